#!/usr/bin/python3
"""Sample from a checkpoint with the PyTorch reference and write golden data for the package tests.

  /usr/bin/python3 tools/demo-model/sample.py --ckpt runs/ckpt.pt --tokenizer runs/tokenizer.model \
      [--golden packages/model-demo/src/golden.json]

The matrices are rounded to F16 first (as in the shipped GGUF), so the greedy continuations are the
ones an exact engine must reproduce from the file.
"""
import argparse, json, os

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import torch
import sentencepiece as spm

from model import ModelArgs, Transformer

PROMPTS = ['Once upon a time', 'One day, Lily found a', 'Tom the rabbit was very', '"Can I help you?" asked']


def load(ckpt):
    ck = torch.load(ckpt, map_location='cpu')
    m = Transformer(ModelArgs(**ck['model_args']))
    sd = {k: (v.half().float() if v.dim() >= 2 else v) for k, v in ck['model'].items()}
    m.load_state_dict(sd)
    m.eval()
    return m, ck


@torch.no_grad()
def generate(m, ids, n, temperature=0.0, gen=None):
    ids = list(ids)
    for _ in range(n):
        x = torch.tensor([ids[-m.args.max_seq_len:]])
        logits = m(x)[0][0, -1]
        if temperature == 0:
            nxt = int(logits.argmax())
        else:
            p = torch.softmax(logits / temperature, -1)
            nxt = int(torch.multinomial(p, 1, generator=gen))
        if nxt == 2:
            break
        ids.append(nxt)
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--golden', default=None)
    ap.add_argument('--tokens', type=int, default=60)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    m, ck = load(args.ckpt)
    print(f'checkpoint step {ck["step"]}, {ck["tokens"]} tokens')
    golden = {'checkpoint_step': ck['step'], 'cases': []}
    gen = torch.Generator().manual_seed(7)
    for p in PROMPTS:
        ids = [1] + sp.encode(p)
        g = generate(m, ids, args.tokens)
        print(f'\n[greedy] {sp.decode(g[1:])}')
        s = generate(m, ids, args.tokens, temperature=0.8, gen=gen)
        print(f'[T=0.8]  {sp.decode(s[1:])}')
        with torch.no_grad():
            logits = m(torch.tensor([ids]))[0][0]
        golden['cases'].append({
            'prompt': p, 'prompt_ids': ids, 'greedy_ids': g[len(ids):len(ids) + 24],
            'greedy_text': sp.decode(g[len(ids):len(ids) + 24]),
            'last_logits_top5': [[int(i), round(float(logits[-1, i]), 4)] for i in torch.topk(logits[-1], 5).indices],
        })
    # tokenizer round-trip cases for the JS tokenizer
    texts = ['Once upon a time, there was a little fox named Pip.', '"Where is my red ball?" asked Mia.',
             'It was 3 o\'clock.\nThe end.', 'Zoë ate 12 crème brûlées!']
    golden['tokenizer'] = [{'text': t, 'ids': sp.encode(t)} for t in texts]
    if args.golden:
        with open(args.golden, 'w') as f:
            json.dump(golden, f, indent=1)
        print(f'\nwrote {args.golden}')


if __name__ == '__main__':
    main()
