#!/usr/bin/python3
"""Train the demo model's SentencePiece BPE tokenizer and pretokenise the corpus.

  /usr/bin/python3 tools/demo-model/tokenizer.py --data runs/data --out runs

Writes OUT/tokenizer.model (+ .vocab) and DATA/train.bin, DATA/heldout.bin (uint16 token ids,
every story prefixed with BOS=1). Deterministic: the training sample is the first
--sample-mb megabytes of train.txt (whole stories) and SentencePiece runs single-threaded.
"""
import argparse, os, time
import numpy as np
import sentencepiece as spm

VOCAB = 1024


def read_stories(path):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    return [s.strip() for s in text.split('\n\n') if s.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--sample-mb', type=float, default=4.0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    stories = read_stories(os.path.join(args.data, 'train.txt'))
    sample, size = [], 0
    for s in stories:
        if size >= args.sample_mb * 1024 * 1024:
            break
        sample.append(s); size += len(s.encode()) + 1
    sample_path = os.path.join(args.data, 'tok_sample.txt')
    with open(sample_path, 'w', encoding='utf-8') as f:
        # one sentence-ish line per input line so max_sentence_length is never hit
        for s in sample:
            for line in s.split('\n'):
                f.write(line + '\n')
    prefix = os.path.join(args.out, 'tokenizer')
    spm.SentencePieceTrainer.train(
        input=sample_path, model_prefix=prefix, model_type='bpe', vocab_size=VOCAB,
        byte_fallback=True, character_coverage=1.0, split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
        max_sentence_length=16384, add_dummy_prefix=True, normalization_rule_name='identity',
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, seed_sentencepiece_size=1000000,
        minloglevel=2)
    t1 = time.time()
    print(f'tokenizer trained on {size/1e6:.1f} MB in {t1-t0:.1f} s')
    sp = spm.SentencePieceProcessor(model_file=prefix + '.model')
    for split in ('train', 'heldout'):
        st = read_stories(os.path.join(args.data, f'{split}.txt'))
        ids = sp.encode(st)
        n = sum(len(x) + 1 for x in ids)
        arr = np.empty(n, dtype=np.uint16)
        pos = 0
        for x in ids:
            arr[pos] = 1; pos += 1
            arr[pos:pos + len(x)] = x; pos += len(x)
        arr.tofile(os.path.join(args.data, f'{split}.bin'))
        nbytes = sum(len(s.encode()) for s in st)
        print(f'{split}: {len(st)} stories, {n} tokens, {nbytes/n:.2f} bytes/token')
    print(f'total {time.time()-t0:.1f} s')


if __name__ == '__main__':
    main()
