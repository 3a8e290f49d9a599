import { availableParallelism } from 'node:os';
import { diagnoseBackends, type DoctorEntry } from '../backends.js';
import type { CliIO } from '../io.js';

export interface DoctorJson {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  backends: DoctorEntry[];
}

/** `bitexit doctor`: every backend, whether it can run here, and why (not). Exit 1 when none can. */
export async function doctorCommand(opts: { json?: boolean }, io: CliIO): Promise<number> {
  const backends = await diagnoseBackends();
  const report: DoctorJson = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: availableParallelism(),
    backends,
  };
  const ok = backends.some((b) => b.available);
  if (opts.json) {
    io.stdout.write(JSON.stringify(report) + '\n');
    return ok ? 0 : 1;
  }
  const lines = [`node ${report.node} on ${report.platform}-${report.arch}, ${report.cpus} CPUs`, ''];
  const status = (b: DoctorEntry) => (b.available ? 'available' : b.installed ? 'unavailable' : 'not installed');
  const w0 = Math.max(7, ...backends.map((b) => b.name.length));
  const w1 = Math.max(6, ...backends.map((b) => status(b).length));
  lines.push(`${'backend'.padEnd(w0)}  ${'status'.padEnd(w1)}  details`);
  for (const b of backends) {
    const why = b.available ? (b.detail ?? '') : !b.installed && b.package && /^not installed/.test(b.reason ?? '') ? `npm install ${b.package}` : (b.reason ?? '');
    const prio = b.priority !== null ? ` [priority ${b.priority}]` : '';
    lines.push(`${b.name.padEnd(w0)}  ${status(b).padEnd(w1)}  ${why}${b.available ? prio : ''}`);
  }
  if (!ok) lines.push('', 'no backend can run here');
  io.stdout.write(lines.join('\n') + '\n');
  return ok ? 0 : 1;
}
