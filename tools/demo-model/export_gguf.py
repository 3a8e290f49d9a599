#!/usr/bin/python3
"""Export the demo model (and its EAGLE-1 draft head, when present) to GGUF v3.

  /usr/bin/python3 tools/demo-model/export_gguf.py --ckpt runs/ckpt.pt [--eagle runs/eagle.pt] \
      --tokenizer runs/tokenizer.model --out packages/model-demo/model/bitexit-demo.gguf

A minimal GGUF v3 writer (no gguf-py): metadata KVs, alignment 32, 2-D tensors F16, norms F32.
GGUF dims are innermost-first, so a torch weight [out, in] is written with dims [in, out]; the
row-major bytes are the same. RoPE pairs are adjacent (llama2.c convention) which is what
llama.cpp's 'llama' architecture expects from GGUF, so Q/K need no permutation.
"""
import argparse, json, os, struct

import numpy as np
import torch
import sentencepiece as spm

ALIGN = 32
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GGML_F32, GGML_F16 = 0, 1


class Writer:
    def __init__(self):
        self.kv = []       # (key, bytes of type+value)
        self.tensors = []  # (name, np.ndarray torch-order, ggml type)

    @staticmethod
    def _str(s):
        b = s.encode('utf-8')
        return struct.pack('<Q', len(b)) + b

    def _val(self, t, v):
        if t == T_STR: return self._str(v)
        if t == T_BOOL: return struct.pack('<B', 1 if v else 0)
        fmt = {T_U8: '<B', T_I8: '<b', T_U16: '<H', T_I16: '<h', T_U32: '<I', T_I32: '<i', T_F32: '<f',
               T_U64: '<Q', T_I64: '<q', T_F64: '<d'}[t]
        return struct.pack(fmt, v)

    def add(self, key, t, v):
        self.kv.append((key, struct.pack('<I', t) + self._val(t, v)))

    def add_arr(self, key, et, vals):
        if et == T_STR:
            body = b''.join(self._str(v) for v in vals)
        elif et == T_F32:
            body = np.asarray(vals, dtype='<f4').tobytes()
        elif et == T_I32:
            body = np.asarray(vals, dtype='<i4').tobytes()
        else:
            body = b''.join(self._val(et, v) for v in vals)
        self.kv.append((key, struct.pack('<IIQ', T_ARR, et, len(vals)) + body))

    def add_tensor(self, name, arr, f16):
        arr = np.ascontiguousarray(arr.astype('<f2' if f16 else '<f4'))
        self.tensors.append((name, arr, GGML_F16 if f16 else GGML_F32))

    def write(self, path):
        self.add('general.alignment', T_U32, ALIGN)
        head = bytearray(b'GGUF' + struct.pack('<IQQ', 3, len(self.tensors), len(self.kv)))
        for k, v in self.kv:
            head += self._str(k) + v
        offset = 0
        offsets = []
        for name, arr, gt in self.tensors:
            dims = list(reversed(arr.shape))  # innermost first
            head += self._str(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims)
            head += struct.pack('<IQ', gt, offset)
            offsets.append(offset)
            offset += arr.nbytes
            offset += (-offset) % ALIGN
        head += b'\0' * ((-len(head)) % ALIGN)
        tmp = path + '.tmp'
        with open(tmp, 'wb') as f:
            f.write(head)
            pos = 0
            for (name, arr, gt), off in zip(self.tensors, offsets):
                f.write(b'\0' * (off - pos))
                f.write(arr.tobytes())
                pos = off + arr.nbytes
        os.replace(tmp, path)
        return len(head) + pos


def layer_tensors(w, prefix, sd, src):
    """src: state-dict prefix of a TransformerBlock (e.g. 'layers.3.')"""
    t = lambda n: sd[src + n].float().numpy()
    w.add_tensor(f'{prefix}.attn_norm.weight', t('attention_norm.weight'), False)
    w.add_tensor(f'{prefix}.attn_q.weight', t('attention.wq.weight'), True)
    w.add_tensor(f'{prefix}.attn_k.weight', t('attention.wk.weight'), True)
    w.add_tensor(f'{prefix}.attn_v.weight', t('attention.wv.weight'), True)
    w.add_tensor(f'{prefix}.attn_output.weight', t('attention.wo.weight'), True)
    w.add_tensor(f'{prefix}.ffn_norm.weight', t('ffn_norm.weight'), False)
    w.add_tensor(f'{prefix}.ffn_gate.weight', t('feed_forward.w1.weight'), True)
    w.add_tensor(f'{prefix}.ffn_up.weight', t('feed_forward.w3.weight'), True)
    w.add_tensor(f'{prefix}.ffn_down.weight', t('feed_forward.w2.weight'), True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--eagle', default=None)
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--context-length', type=int, default=256)
    args = ap.parse_args()

    ck = torch.load(args.ckpt, map_location='cpu')
    a = ck['model_args']
    sd = ck['model']
    w = Writer()
    w.add('general.architecture', T_STR, 'llama')
    w.add('general.name', T_STR, 'bitexit-demo')
    w.add('general.description', T_STR, 'Tiny Llama-architecture demo model trained by the bitexit project on its '
          'own synthetic children\'s-stories corpus (tools/demo-model). For demos and tests, not for real use.')
    w.add('general.license', T_STR, 'MIT')
    w.add('general.file_type', T_U32, 1)  # mostly F16
    w.add('llama.context_length', T_U32, args.context_length)
    w.add('llama.embedding_length', T_U32, a['dim'])
    w.add('llama.block_count', T_U32, a['n_layers'])
    w.add('llama.feed_forward_length', T_U32, a['hidden_dim'])
    w.add('llama.attention.head_count', T_U32, a['n_heads'])
    w.add('llama.attention.head_count_kv', T_U32, a['n_kv_heads'])
    w.add('llama.rope.dimension_count', T_U32, a['dim'] // a['n_heads'])
    w.add('llama.rope.freq_base', T_F32, float(a['rope_theta']))
    w.add('llama.attention.layer_norm_rms_epsilon', T_F32, float(a['norm_eps']))
    w.add('llama.vocab_size', T_U32, a['vocab_size'])
    w.add('bitexit.demo.train_steps', T_U32, int(ck['step']))
    w.add('bitexit.demo.train_tokens', T_U64, int(ck['tokens']))

    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    n = sp.get_piece_size()
    assert n == a['vocab_size'], f'tokenizer has {n} pieces, model vocab is {a["vocab_size"]}'
    toks, scores, types = [], [], []
    for i in range(n):
        toks.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i): types.append(2)
        elif sp.is_control(i): types.append(3)
        elif sp.is_byte(i): types.append(6)
        elif sp.is_unused(i): types.append(5)
        else: types.append(1)
    w.add('tokenizer.ggml.model', T_STR, 'llama')
    w.add_arr('tokenizer.ggml.tokens', T_STR, toks)
    w.add_arr('tokenizer.ggml.scores', T_F32, scores)
    w.add_arr('tokenizer.ggml.token_type', T_I32, types)
    w.add('tokenizer.ggml.bos_token_id', T_U32, sp.bos_id())
    w.add('tokenizer.ggml.eos_token_id', T_U32, sp.eos_id())
    w.add('tokenizer.ggml.unknown_token_id', T_U32, sp.unk_id())
    w.add('tokenizer.ggml.add_bos_token', T_BOOL, True)
    w.add('tokenizer.ggml.add_eos_token', T_BOOL, False)
    w.add('tokenizer.ggml.add_space_prefix', T_BOOL, True)

    w.add_tensor('token_embd.weight', sd['tok_embeddings.weight'].float().numpy(), True)
    for i in range(a['n_layers']):
        layer_tensors(w, f'blk.{i}', sd, f'layers.{i}.')
    w.add_tensor('output_norm.weight', sd['norm.weight'].float().numpy(), False)

    if args.eagle:
        ek = torch.load(args.eagle, map_location='cpu')
        esd = ek['head']
        w.add('bitexit.eagle.version', T_U32, 1)
        w.add('bitexit.eagle.layout', T_STR, 'eagle1')
        w.add('bitexit.eagle.block_count', T_U32, 1)
        w.add('bitexit.eagle.feature', T_STR, 'output_norm')
        w.add('bitexit.eagle.input_order', T_STR, 'token_embd,feature')
        w.add('bitexit.eagle.fc_bias', T_BOOL, False)
        w.add('bitexit.eagle.output_norm', T_BOOL, False)
        w.add('bitexit.eagle.rope_position', T_STR, 'feature')
        w.add('bitexit.eagle.description', T_STR,
              'EAGLE-1 draft head. feature[t] = output_norm(h_L[t]) of the target. Draft input at position t: '
              'x = eagle.fc.weight @ concat(token_embd[token[t+1]], feature[t]) (no bias); then one llama block '
              '(eagle.blk.0.*, same layout as blk.N, causal attention over the draft sequence, RoPE position t, '
              'own KV cache); its output is the predicted feature[t+1] and is fed straight (no extra norm) to the '
              'tied LM head (token_embd) to get draft logits for token[t+2].')
        for k, v in ek.get('metrics', {}).items():
            w.add(f'bitexit.eagle.{k}', T_F32, float(v))
        w.add_tensor('eagle.fc.weight', esd['fc.weight'].float().numpy(), True)
        layer_tensors(w, 'eagle.blk.0', esd, 'layer.')

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    size = w.write(args.out)
    print(f'wrote {args.out}: {size} bytes, {len(w.tensors)} tensors, {len(w.kv)} metadata keys')


if __name__ == '__main__':
    main()
