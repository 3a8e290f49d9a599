#!/usr/bin/python3
"""Phase 2: train an EAGLE-1-style draft head on the frozen demo model.

  /usr/bin/python3 tools/demo-model/train_eagle.py --data runs/data --out runs [--minutes 12]

Layout (Li et al., "EAGLE: Speculative Sampling Requires Rethinking Feature Uncertainty", 2024):
  feature f[t]  = final-normed hidden state of the target at position t (input of the LM head)
  draft input   = fc([embed(token[t+1]) ; f[t]])      fc: Linear(2*dim -> dim), no bias
  draft block   = ONE llama decoder block (same shapes as the target's), causal, RoPE position t
  draft output  = g[t], regressed onto f[t+1]; logits = lm_head(g[t]) (tied embeddings, no extra norm)
  loss          = SmoothL1(g[t], f[t+1]) + 0.1 * CE(softmax(lm_head(f[t+1])), lm_head(g[t]))
Embeddings and LM head are the frozen target's. As in EAGLE-1, features get small uniform noise
during training. Writes OUT/eagle.pt and OUT/eagle_loss.csv.
"""
import argparse, csv, json, math, os, time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model import ModelArgs, Transformer, TransformerBlock


class EagleHead(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.fc = nn.Linear(2 * a.dim, a.dim, bias=False)
        self.layer = TransformerBlock(a)
        nn.init.normal_(self.fc.weight, std=0.02)
        for n, p in self.layer.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, emb_next, feat, cos, sin, mask):
        x = self.fc(torch.cat([emb_next, feat], dim=-1))
        return self.layer(x, cos, sin, mask)


def run_head(model, head, tokens, noise=0.0):
    """tokens [B, T+1]; returns draft outputs g [B, T-1, dim], target features f [B, T, dim]"""
    with torch.no_grad():
        f = model.features(tokens[:, :-1])            # f[t] for t < T
    T = f.shape[1]
    emb_next = model.tok_embeddings(tokens[:, 1:T]).detach()  # token[t+1] for t < T-1
    fin = f[:, :T - 1]
    if noise > 0:
        fin = fin + (torch.rand_like(fin) - 0.5) * 2 * noise
    g = head(emb_next, fin, model.rope_cos[:T - 1], model.rope_sin[:T - 1], model.mask)
    return g, f


def losses(model, head, tokens, noise=0.0):
    g, f = run_head(model, head, tokens, noise)
    tgt = f[:, 1:]
    vloss = F.smooth_l1_loss(g, tgt)
    with torch.no_grad():
        p_t = F.softmax(model.output(tgt), dim=-1)
    logits = model.output(g)
    ploss = -(p_t * F.log_softmax(logits, dim=-1)).sum(-1).mean()
    acc = (logits.argmax(-1) == p_t.argmax(-1)).float().mean()
    return vloss, ploss, acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--minutes', type=float, default=12.0)
    ap.add_argument('--max-steps', type=int, default=5000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--warmup', type=int, default=20)
    ap.add_argument('--noise', type=float, default=0.1)
    ap.add_argument('--p-weight', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=4242)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--eval-seqs', type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ck = torch.load(os.path.join(args.out, 'ckpt.pt'), map_location='cpu')
    a = ModelArgs(**ck['model_args'])
    model = Transformer(a)
    model.load_state_dict(ck['model'])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    head = EagleHead(a)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    train = np.memmap(os.path.join(args.data, 'train.bin'), dtype=np.uint16, mode='r')
    held = np.fromfile(os.path.join(args.data, 'heldout.bin'), dtype=np.uint16)
    rng = np.random.default_rng(args.seed)
    S = a.max_seq_len

    def evaluate():
        head.eval()
        vs, ps, accs = [], [], []
        with torch.no_grad():
            for i in range(args.eval_seqs):
                x = torch.from_numpy(held[i * S:i * S + S + 1].astype(np.int64))[None]
                v, p, acc = losses(model, head, x)
                vs.append(v.item()); ps.append(p.item()); accs.append(acc.item())
        head.train()
        return float(np.mean(vs)), float(np.mean(ps)), float(np.mean(accs))

    fcsv = open(os.path.join(args.out, 'eagle_loss.csv'), 'w', newline='')
    w = csv.writer(fcsv)
    w.writerow(['step', 'elapsed_s', 'lr', 'vloss', 'ploss', 'top1_acc', 'heldout_vloss', 'heldout_ploss', 'heldout_top1_acc'])
    t_start = time.time(); step = 0; budget = args.minutes * 60; last_eval = time.time()
    print(f'draft head parameters {sum(p.numel() for p in head.parameters())}', flush=True)
    while True:
        progress = max(step / args.max_steps, (time.time() - t_start) / budget)
        if progress >= 1:
            break
        lr = args.lr * (step + 1) / args.warmup if step < args.warmup else \
            0.1 * args.lr + 0.45 * args.lr * (1 + math.cos(math.pi * progress))
        for g in opt.param_groups:
            g['lr'] = lr
        ix = rng.integers(0, len(train) - S - 2, size=args.batch)
        x = torch.from_numpy(np.stack([train[i:i + S + 1] for i in ix]).astype(np.int64))
        v, p, acc = losses(model, head, x, args.noise)
        loss = v + args.p_weight * p
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        step += 1
        ev = ['', '', '']
        if time.time() - last_eval > 240:
            ev = [f'{z:.4f}' for z in evaluate()]; last_eval = time.time()
        w.writerow([step, f'{time.time() - t_start:.1f}', f'{lr:.6f}', f'{v.item():.4f}', f'{p.item():.4f}', f'{acc.item():.4f}', *ev])
        fcsv.flush()
        if step % 10 == 0:
            print(f'step {step} vloss {v.item():.4f} ploss {p.item():.4f} acc {acc.item():.3f} lr {lr:.2e} '
                  f'{(time.time() - t_start) / 60:.1f} min', flush=True)
    hv, hp, hacc = evaluate()
    elapsed = time.time() - t_start
    w.writerow([step, f'{elapsed:.1f}', '', '', '', '', f'{hv:.4f}', f'{hp:.4f}', f'{hacc:.4f}']); fcsv.close()
    metrics = {'heldout_vloss': hv, 'heldout_ploss': hp, 'heldout_top1_acc': hacc, 'train_steps': step,
               'train_minutes': elapsed / 60}
    torch.save({'head': head.state_dict(), 'metrics': metrics, 'args': vars(args)}, os.path.join(args.out, 'eagle.pt'))
    with open(os.path.join(args.out, 'eagle_summary.json'), 'w') as f:
        json.dump(metrics, f, indent=2)
    print(f'done: {step} steps in {elapsed / 60:.1f} min; heldout vloss {hv:.4f} ploss {hp:.4f} top1 {hacc:.3f}', flush=True)


if __name__ == '__main__':
    main()
