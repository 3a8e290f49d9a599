import { bxLayout } from '@bitexit/format';
const shapes = (d: number, f: number, kv: number) => [[d, d], [kv, d], [kv, d], [d, d], [f, d], [f, d], [d, f]];
for (const [label, d, f, kv, L] of [['260K', 64, 172, 32, 5], ['656K', 128, 384, 64, 2], ['7B', 4096, 11008, 4096, 1]] as const) {
  for (const g of [32, 64, 128]) for (const ra of [4, 16] as const) for (const w of [2, 3, 4]) for (const so of [true, false]) {
    let bytes = 0, n = 0;
    for (const [r, c] of shapes(d, f, kv)) {
      const l = bxLayout({ rows: r, cols: c, groupSize: g, widths: new Array(Math.ceil(c / g)).fill(w), secondOrder: so, rowAlign: ra, outliers: 0 });
      bytes += l.byteLength; n += r * c;
    }
    console.log(label, 'g', g, 'align', ra, 'w', w, 'so', so, 'bpw', (8 * bytes / n).toFixed(3));
  }
}
