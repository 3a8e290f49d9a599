#!/usr/bin/python3
"""Train the bitexit demo model (Llama architecture, see model.py) on the pretokenised corpus.

  /usr/bin/python3 tools/demo-model/train.py --data runs/data --out runs [--minutes 80] [--max-steps N]

Stops by itself after --minutes of wall time or --max-steps steps, whichever comes first.
The learning rate follows linear warmup then cosine decay over *training progress*, where
progress = max(step / max_steps, elapsed / budget) — so the schedule always completes inside
the wall-time budget whatever the machine's speed (on a given machine the run is reproducible
up to where the wall clock cuts it). With --minutes 0 there is no wall-time budget: progress is
step / max_steps only, and a run is deterministic for the seed (same torch build and thread count). Writes OUT/loss.csv (one row per step, held-out loss on the
rows where it was evaluated), OUT/ckpt.pt every --ckpt-minutes and at the end, OUT/config.json.
"""
import argparse, csv, json, math, os, time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads collapse on a shared 2-core box
import numpy as np
import torch

from model import ModelArgs, Transformer


def get_batch(data, rng, batch, seq_len):
    ix = rng.integers(0, len(data) - seq_len - 1, size=batch)
    x = np.stack([data[i:i + seq_len] for i in ix]).astype(np.int64)
    y = np.stack([data[i + 1:i + 1 + seq_len] for i in ix]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def heldout_loss(model, held, seq_len, n_seq):
    model.eval()
    losses = []
    for i in range(n_seq):
        s = i * seq_len
        x = torch.from_numpy(held[s:s + seq_len].astype(np.int64))[None]
        y = torch.from_numpy(held[s + 1:s + 1 + seq_len].astype(np.int64))[None]
        losses.append(model(x, y)[1].item())
    model.train()
    return float(np.mean(losses))


def save(path, model, opt, step, tokens, elapsed, data_rng, args):
    tmp = path + '.tmp'
    torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'tokens': tokens,
                'elapsed': elapsed, 'data_rng': data_rng.bit_generator.state,
                'model_args': model.args.to_dict(), 'train_args': vars(args)}, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--minutes', type=float, default=80.0)
    ap.add_argument('--max-steps', type=int, default=20000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=1.5e-3)
    ap.add_argument('--min-lr', type=float, default=1.5e-4)
    ap.add_argument('--warmup', type=int, default=40)
    ap.add_argument('--weight-decay', type=float, default=0.1)
    ap.add_argument('--grad-clip', type=float, default=1.0)
    ap.add_argument('--seed', type=int, default=1337)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--ckpt-minutes', type=float, default=5.0)
    ap.add_argument('--eval-minutes', type=float, default=10.0)
    ap.add_argument('--eval-seqs', type=int, default=32)
    ap.add_argument('--resume', action='store_true')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    margs = ModelArgs()
    model = Transformer(margs)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    train = np.memmap(os.path.join(args.data, 'train.bin'), dtype=np.uint16, mode='r')
    held = np.fromfile(os.path.join(args.data, 'heldout.bin'), dtype=np.uint16)
    data_rng = np.random.default_rng(args.seed)
    ckpt_path = os.path.join(args.out, 'ckpt.pt')
    csv_path = os.path.join(args.out, 'loss.csv')
    step, tokens, elapsed0 = 0, 0, 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck['model']); opt.load_state_dict(ck['opt'])
        step, tokens, elapsed0 = ck['step'], ck['tokens'], ck['elapsed']
        data_rng.bit_generator.state = ck['data_rng']
        print(f'resumed at step {step}')
    nparams = model.num_params()
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump({'model': margs.to_dict(), 'train': vars(args), 'parameters': nparams,
                   'train_tokens_available': int(len(train)), 'torch': torch.__version__}, f, indent=2)
    print(f'parameters {nparams}, train tokens {len(train)}, heldout tokens {len(held)}', flush=True)
    new_file = not (args.resume and os.path.exists(csv_path))
    fcsv = open(csv_path, 'w' if new_file else 'a', newline='')
    w = csv.writer(fcsv)
    if new_file:
        w.writerow(['step', 'elapsed_s', 'lr', 'train_loss', 'tokens', 'tokens_per_s', 'heldout_loss'])
    budget = args.minutes * 60 if args.minutes > 0 else math.inf  # --minutes 0: step-based, reproducible
    t_start = time.time() - elapsed0
    last_ckpt = last_eval = time.time()
    tok_per_step = args.batch * margs.max_seq_len
    if step == 0:
        hl = heldout_loss(model, held, margs.max_seq_len, args.eval_seqs)
        w.writerow([0, 0.0, 0.0, '', 0, '', f'{hl:.4f}']); fcsv.flush()
        print(f'step 0 heldout {hl:.4f}', flush=True)
    model.train()
    while True:
        elapsed = time.time() - t_start
        progress = max(step / args.max_steps, elapsed / budget)
        if progress >= 1.0:
            break
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))
        for g in opt.param_groups:
            g['lr'] = lr
        t0 = time.time()
        x, y = get_batch(train, data_rng, args.batch, margs.max_seq_len)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        tokens += tok_per_step
        dt = time.time() - t0
        hl = ''
        now = time.time()
        if now - last_eval >= args.eval_minutes * 60:
            hl = f'{heldout_loss(model, held, margs.max_seq_len, args.eval_seqs):.4f}'
            last_eval = time.time()
        w.writerow([step, f'{now - t_start:.1f}', f'{lr:.6f}', f'{loss.item():.4f}', tokens, f'{tok_per_step / dt:.0f}', hl])
        fcsv.flush()
        if step % 10 == 0 or hl:
            print(f'step {step} loss {loss.item():.4f} lr {lr:.2e} {tok_per_step / dt:.0f} tok/s elapsed {(now - t_start) / 60:.1f} min'
                  + (f' heldout {hl}' if hl else ''), flush=True)
        if now - last_ckpt >= args.ckpt_minutes * 60:
            save(ckpt_path, model, opt, step, tokens, time.time() - t_start, data_rng, args)
            last_ckpt = time.time()
    hl = heldout_loss(model, held, margs.max_seq_len, args.eval_seqs)
    elapsed = time.time() - t_start
    w.writerow([step, f'{elapsed:.1f}', '', '', tokens, '', f'{hl:.4f}']); fcsv.close()
    save(ckpt_path, model, opt, step, tokens, elapsed, data_rng, args)
    with open(os.path.join(args.out, 'train_summary.json'), 'w') as f:
        json.dump({'steps': step, 'tokens': tokens, 'elapsed_s': round(elapsed, 1), 'final_heldout_loss': hl,
                   'parameters': nparams}, f, indent=2)
    print(f'done: {step} steps, {tokens} tokens, {elapsed / 60:.1f} min, heldout {hl:.4f}', flush=True)


if __name__ == '__main__':
    main()
