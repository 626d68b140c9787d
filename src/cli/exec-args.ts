// `gpu-arbiter exec`: its command line, parsed and checked before anything is spawned or acquired.
// Every bad value is E_INVALID_ARGUMENT with "Expected X for --flag but received Z" (exit 2).
import { GpuArbiterError } from '../errors';
import { MAX_MIB, MAX_PRIORITY } from '../policy/task-policy';
import { describe, invalid, MAX_TIMER_MS } from '../util/validate';
import { MAX_GPUS } from '../arbiter/options';
import { parseFlags } from './args';

export const EXEC_HELP = `Usage: gpu-arbiter exec [options] -- <command> [args...]

Runs one command under a GPU lease, like flock(1) for a GPU: waits for the GPU as the busy
policy says, then runs the command with CUDA_VISIBLE_DEVICES (GPU UUIDs), CUDA_DEVICE_ORDER,
GPU_ARBITER_FENCING_TOKEN and GPU_ARBITER_LEASE_ID set; the hold is released when it exits.
The hold is accounted to the command's pid. SIGTERM and SIGHUP are passed on to it, and SIGINT
too unless exec runs in a terminal's foreground (Ctrl-C there reaches the command already).

  --task NAME          task type (default EXEC); with --config a task of the profile
  --vram MiB           VRAM the command needs (required without --config)
  --priority N         0-1000, higher first (default 50, or the profile's)
  --max-wait DURATION  longest wait for the GPU, e.g. 500ms, 30s, 2m (default: no limit)
  --busy POLICY        wait | skip | reject (default wait)
  --fallback CMD       shell command to run instead when no GPU was granted (busy, timed out,
                       never fits, ledger unreachable); its exit code becomes exec's
  --gpus N             GPUs the command needs at once, --vram on each, all or none (default 1)
  --backend NAME       host | local | redis (default host)
  --namespace NS       ledger namespace (host, redis; default $GPU_ARBITER_NAMESPACE, then
                       "default"; with --config the profile's)
  --redis URL          the Redis of --backend redis (redis://host:port)
  --config FILE        arbiter options from a config file (as GpuArbiter.fromFile) ...
  --profile NAME       ... and its profile (default $GPU_ARBITER_PROFILE, $NODE_ENV, dev)
  --label TEXT         what the job is (in the lease's alerts and critical log)
  --grace DURATION     after the lease is lost: SIGTERM, then SIGKILL this much later (default 10s)
  --json               print the lease as one JSON line on stderr when granted

Exit codes: the command's own (128+N when killed by signal N); 75 busy (skip, reject: nothing
ran); 124 timed out waiting (--max-wait); 69 no GPU could ever hold it; 70 lease lost (the
command was stopped); 2 usage; 1 other errors.`;

export type ExecBusy = 'wait' | 'skip' | 'reject';
export type ExecBackend = 'host' | 'local' | 'redis';

/** A checked `gpu-arbiter exec` command line. Undefined: not given (the default or the profile's applies). */
export interface ExecOptions {
  /** The command and its arguments (never empty). */
  command: string[];
  task: string;
  vramMiB: number | undefined;
  /** GPUs at once (acquire's `gpus`). */
  gpus: number;
  priority: number | undefined;
  maxWaitMs: number | undefined;
  busy: ExecBusy | undefined;
  fallback: string | undefined;
  backend: ExecBackend | undefined;
  namespace: string | undefined;
  redis: string | undefined;
  config: string | undefined;
  profile: string | undefined;
  label: string | undefined;
  graceMs: number;
  json: boolean;
}

export const DEFAULT_TASK = 'EXEC';
export const DEFAULT_PRIORITY = 50;
export const DEFAULT_GRACE_MS = 10_000;
const MAX_MS = MAX_TIMER_MS;
const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const LABEL = /^[\x20-\x7e]{1,128}$/;

/** `500ms`, `30s`, `1.5m`, `2h` (or `0`) as whole milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = DURATION.exec(text);
  const ms = text === '0' ? 0 : m === null ? Number.NaN : Math.round(Number(m[1]) * UNITS_MS[m[2]!]!);
  if (!(ms >= 0 && ms <= MAX_MS)) throw invalid(flag, 'a duration such as 500ms, 30s or 2m (at most 24d)', text);
  return ms;
}

function integerFlag(flag: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) throw invalid(flag, `an integer from ${min} to ${max}`, text);
  return n;
}

function oneOf<T extends string>(flag: string, text: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(text)) throw invalid(flag, values.join(', '), text);
  return text as T;
}

const COMMAND_SHAPE = '"-- <command> [args...]"';

/** "Expected X for Y but received nothing": a required value that was not given. */
function missing(field: string, expected: string): GpuArbiterError {
  return new GpuArbiterError('E_INVALID_ARGUMENT', `Expected ${expected} for ${field} but received nothing`, { field });
}

/** Parses `exec`'s arguments; 'help' when --help/-h came before "--". Throws E_INVALID_ARGUMENT. */
export function parseExecArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ExecOptions | 'help' {
  const dashes = argv.indexOf('--');
  const before = dashes === -1 ? argv : argv.slice(0, dashes);
  const command = dashes === -1 ? [] : argv.slice(dashes + 1);
  let f: Record<string, string | boolean | undefined>;
  try {
    f = parseFlags(before, {
      boolean: ['json', 'help'],
      string: ['task', 'vram', 'priority', 'max-wait', 'busy', 'fallback', 'gpus', 'backend', 'namespace', 'redis', 'config', 'profile', 'label', 'grace'],
    });
  } catch (err) {
    // A command without "--" in front reads as a stray positional: say what is expected instead.
    const stray = /Unexpected argument '([^']*)'/.exec((err as Error).message);
    if (stray !== null) {
      throw new GpuArbiterError('E_INVALID_ARGUMENT', `Expected ${COMMAND_SHAPE} for the command but received ${describe(stray[1])} without "--" in front`, {
        field: 'command',
      });
    }
    throw err;
  }
  if (f.help === true) return 'help';
  if (command.length === 0) throw missing('the command', COMMAND_SHAPE);
  if (command[0] === '') throw invalid('the command', 'a program name', command[0]);
  const str = (k: string): string | undefined => f[k] as string | undefined;

  const task = str('task') ?? DEFAULT_TASK;
  if (!/^[\x20-\x7e]{1,128}$/.test(task)) throw invalid('--task', '1 to 128 printable ASCII characters', task);
  const gpus = str('gpus') === undefined ? 1 : integerFlag('--gpus', str('gpus')!, 1, MAX_GPUS);
  const backend = str('backend') === undefined ? undefined : oneOf('--backend', str('backend')!, ['host', 'local', 'redis'] as const);
  const busy = str('busy') === undefined ? undefined : oneOf('--busy', str('busy')!, ['wait', 'skip', 'reject'] as const);
  const config = str('config');
  if (config !== undefined && config === '') throw invalid('--config', 'a file path', config);
  const profile = str('profile');
  if (profile !== undefined && config === undefined) throw invalid('--profile', 'nothing without --config', profile);
  if (profile === '') throw invalid('--profile', 'a profile name', profile);

  const vramMiB = str('vram') === undefined ? undefined : integerFlag('--vram', str('vram')!, 1, MAX_MIB);
  if (vramMiB === undefined && config === undefined) throw missing('--vram', `an integer from 1 to ${MAX_MIB} (MiB; required without --config)`);
  const priority = str('priority') === undefined ? undefined : integerFlag('--priority', str('priority')!, 0, MAX_PRIORITY);
  const maxWaitMs = str('max-wait') === undefined ? undefined : parseDuration('--max-wait', str('max-wait')!);
  if (maxWaitMs !== undefined && busy === 'reject') throw invalid('--max-wait', 'nothing with --busy reject (it never waits)', str('max-wait'));
  const graceMs = str('grace') === undefined ? DEFAULT_GRACE_MS : parseDuration('--grace', str('grace')!);

  // Without --config the backend is known here: refuse what it would not use.
  const redis = str('redis');
  const effective = backend ?? (config === undefined ? 'host' : undefined);
  // $GPU_ARBITER_NAMESPACE stands in for --namespace where no config file names the ledger.
  const fromEnv = config === undefined && effective !== 'local' && env.GPU_ARBITER_NAMESPACE ? env.GPU_ARBITER_NAMESPACE : undefined;
  const namespace = str('namespace') ?? fromEnv;
  if (namespace !== undefined && (namespace === '' || effective === 'local'))
    throw invalid('--namespace', 'a namespace with --backend host or redis', namespace);
  if (redis !== undefined && effective !== undefined && effective !== 'redis') throw invalid('--redis', 'nothing unless --backend is redis', redis);
  if (effective === 'redis' && redis === undefined && config === undefined) throw missing('--redis', 'a redis:// URL (--backend redis)');
  const fallback = str('fallback');
  if (fallback !== undefined && fallback.trim() === '') throw invalid('--fallback', 'a shell command', fallback);
  const label = str('label');
  if (label !== undefined && !LABEL.test(label)) throw invalid('--label', '1 to 128 printable ASCII characters', label);

  return {
    command,
    task,
    vramMiB,
    gpus,
    priority,
    maxWaitMs,
    busy,
    fallback,
    backend,
    namespace,
    redis,
    config,
    profile,
    label,
    graceMs,
    json: f.json === true,
  };
}
