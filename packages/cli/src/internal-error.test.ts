import { describe, expect, it, vi } from 'vitest';
import { runCli } from './test-helpers.js';

// A bug inside a command (not a BitexitError) must give the stack and exit 70.
vi.mock('./commands/doctor.js', () => ({
  doctorCommand: async () => {
    const o = undefined as unknown as { x: number };
    return o.x;
  },
}));

describe('unexpected errors', () => {
  it('print the stack trace and exit 70', async () => {
    const r = await runCli(['doctor']);
    expect(r.code).toBe(70);
    expect(r.stderr).toMatch(/^bitexit: internal error/);
    expect(r.stderr).toMatch(/TypeError/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
