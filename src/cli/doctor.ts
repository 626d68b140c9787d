import { runDoctor, type DoctorReport } from '../doctor/doctor';
import { commandFlags, defaultIo, type CliIo } from './args';

const HELP = `Usage: gpu-arbiter doctor [--json] [--nvml-lib PATH] [--host-namespace NS] [--redis URL]

Checks what gpu-arbiter needs on this host; each check says PASS, WARN or FAIL and, where it is
not PASS, the fix: the addon (and where it loaded from), NVML (path, driver and NVML versions,
permission to read processes), persistence mode and MIG per GPU, /dev/shm writable, the host
ledgers readable, and with --redis URL: Redis reachable, its version and cluster mode, and the
clock skew between this host and Redis. Exits 0 only when nothing FAILs.

  --json               print the report as JSON
  --nvml-lib PATH      NVML library to open
  --host-namespace NS  read only this host ledger (default: every one)
  --redis URL          also check Redis (redis://[:password@]host:port)
`;

export function formatDoctor(report: DoctorReport): string {
  const lines = report.checks.map((c) => {
    const head = `${c.verdict.padEnd(4)}  ${c.id.padEnd(18)} ${c.detail}`;
    return c.fix ? `${head}\n      fix: ${c.fix}` : head;
  });
  const fails = report.checks.filter((c) => c.verdict === 'FAIL').length;
  const warns = report.checks.filter((c) => c.verdict === 'WARN').length;
  lines.push('', `${fails} FAIL, ${warns} WARN, ${report.checks.length - fails - warns} PASS`);
  return lines.join('\n');
}

export async function runDoctorCommand(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const flags = commandFlags(argv, { boolean: ['json'], string: ['nvml-lib', 'host-namespace', 'redis'] }, HELP, io);
  if (typeof flags === 'number') return flags;
  const ns = flags['host-namespace'] as string | undefined;
  const report = await runDoctor({
    libraryPath: flags['nvml-lib'] as string | undefined,
    ...(ns === undefined ? {} : { hostNamespaces: [ns] }),
    ...(flags.redis === undefined ? {} : { redis: flags.redis as string }),
  });
  io.out.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
  return report.ok ? 0 : 1;
}
