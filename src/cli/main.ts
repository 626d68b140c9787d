#!/usr/bin/env node
// The `gpu-arbiter` command. Each subcommand lives in its own module and returns an exit code.
import { isGpuArbiterError } from '../errors';
import { runDashboardCommand } from './dashboard';
import { runDemo } from './demo';
import { runDoctorCommand } from './doctor';
import { runExec } from './exec';
import { runMetricsCommand } from './metrics';
import { runNodeCommand } from './node';
import { runStatus } from './status';
import { runWatch } from './watch';

const USAGE = `Usage: gpu-arbiter <command> [options]

Commands:
  status     what this host's GPUs look like to gpu-arbiter (NVML, devices, processes)
  doctor     checks of what gpu-arbiter needs here, each PASS/WARN/FAIL with the fix
  watch      a live view of GPUs, VRAM, holders and waiters
  metrics    serves this host's GPUs and host ledgers for Prometheus (--port 9464)
  dashboard  a live web page of this host's GPUs, holders, queues and charts (--port 9465)
  demo       a simulated ASR/NMT/TTS/repair pipeline on the mock NVML, then a summary
             (--dashboard: shown on the live web dashboard)
  exec       runs a command under a GPU lease: exec [options] -- <command> [args...]
  node       registers this host's GPUs in a cluster pool on Redis (--redis URL) and keeps them current
  help       this text

Run "gpu-arbiter <command> --help" for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  status: runStatus,
  doctor: runDoctorCommand,
  watch: runWatch,
  metrics: (argv) => runMetricsCommand(argv),
  dashboard: (argv) => runDashboardCommand(argv),
  demo: (argv) => runDemo(argv),
  exec: runExec,
  node: (argv) => runNodeCommand(argv),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`gpu-arbiter: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (isGpuArbiterError(err)) {
      process.stderr.write(`gpu-arbiter ${name}: ${err.code}: ${err.message}\n`);
      return err.code === 'E_INVALID_ARGUMENT' ? 2 : 1;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`gpu-arbiter: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
