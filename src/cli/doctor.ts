import { runDoctor, type DoctorReport } from '../doctor';
import { commandFlags, defaultIo, type CliIo } from './args';

const HELP = `Usage: gpu-arbiter doctor [--json] [--nvml-lib PATH]

Checks what gpu-arbiter needs on this host; each check says PASS, WARN or FAIL and, where it is
not PASS, the fix. Exits 0 only when nothing FAILs.
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
  const flags = commandFlags(argv, { boolean: ['json'], string: ['nvml-lib'] }, HELP, io);
  if (typeof flags === 'number') return flags;
  const report = await runDoctor({ libraryPath: flags['nvml-lib'] as string | undefined });
  io.out.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
  return report.ok ? 0 : 1;
}
