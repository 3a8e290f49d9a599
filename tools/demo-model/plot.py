#!/usr/bin/python3
"""Plot runs/loss.csv. Uses matplotlib (PNG) when /usr/bin/python3 has it; otherwise writes a
dependency-free SVG (runs/loss.svg): train loss (50-step moving average) and held-out loss vs tokens."""
import csv, sys, os

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'runs', 'loss.csv')
rows = list(csv.DictReader(open(path)))
train = [(int(r['tokens']), float(r['train_loss'])) for r in rows if r['train_loss']]
held = [(int(r['tokens']), float(r['heldout_loss'])) for r in rows if r['heldout_loss']]
win = 50
smooth = [(train[i][0], sum(l for _, l in train[max(0, i - win + 1):i + 1]) / len(train[max(0, i - win + 1):i + 1]))
          for i in range(len(train))]
base = os.path.splitext(path)[0]
try:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.figure(figsize=(6, 3.5))
    plt.plot([t for t, _ in smooth], [l for _, l in smooth], label='train (50-step avg)')
    plt.plot([t for t, _ in held], [l for _, l in held], 'o-', label='held-out')
    plt.yscale('log'); plt.xlabel('tokens'); plt.ylabel('loss (nats/token)'); plt.legend(); plt.tight_layout()
    plt.savefig(base + '.png', dpi=100)
    print('wrote', base + '.png')
except ImportError:
    import math
    W, H, L, R, T, B = 640, 360, 60, 20, 20, 40
    xmax = max(t for t, _ in train + held)
    ys = [l for _, l in smooth + held]
    ylo, yhi = math.log(min(ys) * 0.9), math.log(max(ys) * 1.05)
    X = lambda t: L + (W - L - R) * t / xmax
    Y = lambda l: T + (H - T - B) * (1 - (math.log(l) - ylo) / (yhi - ylo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for v in (0.5, 0.7, 1, 1.5, 2, 3, 5, 7):
        if ylo <= math.log(v) <= yhi:
            out.append(f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v}</text>'
                       f'<line x1="{L}" y1="{Y(v):.1f}" x2="{W - R}" y2="{Y(v):.1f}" stroke="#ddd"/>')
    for k in range(6):
        t = xmax * k / 5
        out.append(f'<text x="{X(t):.1f}" y="{H - B + 16}" text-anchor="middle">{t / 1e6:.1f}M</text>')
    out.append(f'<text x="{(W + L) / 2}" y="{H - 6}" text-anchor="middle">tokens seen</text>')
    pts = ' '.join(f'{X(t):.1f},{Y(l):.1f}' for t, l in smooth[::max(1, len(smooth) // 400)])
    out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/>')
    pts = ' '.join(f'{X(t):.1f},{Y(l):.1f}' for t, l in held)
    out.append(f'<polyline fill="none" stroke="#ff7f0e" stroke-width="1.5" points="{pts}"/>')
    out += [f'<circle cx="{X(t):.1f}" cy="{Y(l):.1f}" r="3" fill="#ff7f0e"/>' for t, l in held]
    out.append(f'<text x="{W - R - 4}" y="{T + 12}" text-anchor="end" fill="#1f77b4">train loss (50-step avg, log scale)</text>')
    out.append(f'<text x="{W - R - 4}" y="{T + 26}" text-anchor="end" fill="#ff7f0e">held-out loss</text>')
    out.append('</svg>')
    open(base + '.svg', 'w').write('\n'.join(out) + '\n')
    print('wrote', base + '.svg (matplotlib not available)')
