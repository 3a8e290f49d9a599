import { describe, expect, it } from 'vitest';
import { runCli } from '../test-helpers.js';
import type { DoctorJson } from './doctor.js';

describe('bitexit doctor', () => {
  it('--json lists the CPU backend as available and the GPU packages with reasons', async () => {
    const r = await runCli(['doctor', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as DoctorJson;
    expect(d.node).toBe(process.version);
    const cpu = d.backends.find((b) => b.name === 'cpu');
    expect(cpu).toMatchObject({ installed: true, available: true, priority: 0 });
    expect(cpu?.detail).toBeTruthy();
    for (const name of ['webgpu', 'cuda']) {
      const b = d.backends.find((x) => x.name === name);
      expect(b, name).toBeDefined();
      if (!b!.available) expect(b!.reason, name).toBeTruthy();
      if (!b!.installed) expect(b!.reason).toBe(`not installed (npm install @bitexit/backend-${name})`);
    }
  });

  it('human output: one row per backend with its status', async () => {
    const r = await runCli(['doctor']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cpu\s+available\s+\S/m);
    expect(r.stdout).toMatch(/^webgpu\s+(available|unavailable|not installed)\s+\S/m);
    expect(r.stdout).toMatch(/^cuda\s+(available|unavailable|not installed)\s+\S/m);
  });
});
