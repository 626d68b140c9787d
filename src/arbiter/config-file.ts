// Config files: `{ "profiles": { "dev": {...}, "test": {...}, "prod": {...} } }`, each profile the
// JSON-expressible part of GpuArbiter.create()'s options. Read and validated here; the watcher
// reloads on change (debounced), and what it can apply at run time goes through configure().
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GpuArbiterOptions } from './options';
import { GpuArbiterError, isGpuArbiterError } from '../errors';
import { invalid, knownKeys, nonEmptyString } from '../util/validate';
import type { AlertInput } from '../observe/alerts';

/** Keys a profile may hold (everything of create()'s options that JSON can say). */
export const FILE_KEYS = [
  'backend',
  'namespace',
  'redis',
  'leaseTtlMs',
  'nodeId',
  'registerNode',
  'onBackendError',
  'redisOptions',
  'policies',
  'devices',
  'declaredDevices',
  'maxFraction',
  'placement',
  'agingMs',
  'monitorOptions',
  'criticalLog',
] as const;

/** What a reload may change (the rest needs a restart). */
export const RELOADABLE_KEYS = ['policies', 'devices', 'maxFraction', 'placement', 'declaredDevices'] as const;

export type FileProfile = Partial<Pick<GpuArbiterOptions, (typeof FILE_KEYS)[number]>>;

function where(file: string, profile: string, err: unknown): unknown {
  // Errors from option validation name `options.x`: say where in the file that is instead.
  if (isGpuArbiterError(err, 'E_INVALID_ARGUMENT')) {
    const field = typeof err.details.field === 'string' ? err.details.field.replace(/^(options|config)\b/, `profiles.${profile}`) : undefined;
    const message = err.message.replace(/\b(options|config)\./g, `profiles.${profile}.`);
    return new GpuArbiterError('E_INVALID_ARGUMENT', `${file}: ${message}`, { ...err.details, field, file }, { cause: err });
  }
  return err;
}

/** Parses the text of a config file and returns one profile (shape-checked; values are checked by create()). */
export function parseConfigText(text: string, file: string, profile: string): FileProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `${file}: not valid JSON: ${(err as Error).message}`, { field: 'path', file }, { cause: err });
  }
  try {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('the file', 'an object with profiles', doc);
    knownKeys('the file', doc, ['profiles', '$schema', 'description']);
    const profiles = (doc as { profiles?: unknown }).profiles;
    if (profiles === null || typeof profiles !== 'object' || Array.isArray(profiles)) throw invalid('profiles', 'an object of named profiles', profiles);
    const p = (profiles as Record<string, unknown>)[profile];
    if (p === undefined) {
      throw new GpuArbiterError(
        'E_INVALID_ARGUMENT',
        `No profile ${JSON.stringify(profile)} in profiles; the file has: ${Object.keys(profiles).join(', ') || 'none'}`,
        { field: 'options.profile' },
      );
    }
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw invalid(`profiles.${profile}`, 'an object of arbiter options', p);
    knownKeys(`profiles.${profile}`, p, FILE_KEYS);
    const b = (p as FileProfile).backend;
    if (b !== undefined && typeof b !== 'string') throw invalid(`profiles.${profile}.backend`, "'local', 'host' or 'redis'", b);
    const r = (p as FileProfile).redis;
    if (r !== undefined && typeof r !== 'string') throw invalid(`profiles.${profile}.redis`, 'a redis:// URL', r);
    return p as FileProfile;
  } catch (err) {
    throw where(file, profile, err);
  }
}

export function readConfigFile(file: string, profile: string): FileProfile {
  nonEmptyString('path', file);
  nonEmptyString('options.profile', profile);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Cannot read the config file ${file}: ${(err as Error).message}`, { field: 'path', file }, { cause: err });
  }
  return parseConfigText(text, file, profile);
}

export { where as locateConfigError };

/**
 * Watches one file (through its directory, so an editor's write-and-rename is seen) and calls
 * `onChange` once per burst of changes, `debounceMs` after the last.
 */
export class ConfigWatcher {
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly file: string,
    private readonly onChange: () => void,
    private readonly debounceMs = 50,
  ) {}

  start(): void {
    const dir = path.dirname(path.resolve(this.file));
    const base = path.basename(this.file);
    this.watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.onChange();
      }, this.debounceMs);
      this.timer.unref();
    });
    this.watcher.on('error', () => undefined);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }
}

/** What a reload needs of the arbiter it applies to. */
export interface Reloadable {
  configure(input: Record<string, unknown>): Promise<void>;
  readonly isClosed: boolean;
  alert(input: AlertInput): void;
  emit(event: 'config-reloaded', payload: { path: string; profile: string; ms: number; restartNeeded: string[] }): boolean;
}

/** The file an arbiter was made from (GpuArbiter.fromFile), and its watcher. */
export class ConfigSource {
  private watcher: ConfigWatcher | null = null;

  constructor(
    readonly path: string,
    readonly profile: string,
    private readonly loaded: FileProfile,
  ) {}

  watch(onChange: () => void, debounceMs: number): void {
    this.watcher = new ConfigWatcher(this.path, onChange, debounceMs);
    this.watcher.start();
  }

  stop(): void {
    this.watcher?.stop();
  }

  /**
   * Re-reads the file and applies what may change at run time through `target.configure()`.
   * True when applied; on a bad file false, the config in force is kept and a `config-invalid`
   * alert is raised.
   */
  async reload(target: Reloadable): Promise<boolean> {
    const started = performance.now();
    const { path: file, profile } = this;
    try {
      const next = readConfigFile(file, profile);
      const input: Record<string, unknown> = {};
      for (const k of RELOADABLE_KEYS) if (next[k] !== undefined) input[k] = next[k];
      try {
        await target.configure(input);
      } catch (err) {
        throw where(file, profile, err);
      }
      const before = this.loaded;
      const restartNeeded = Object.keys({ ...before, ...next }).filter(
        (k) =>
          !(RELOADABLE_KEYS as readonly string[]).includes(k) &&
          JSON.stringify(before[k as keyof FileProfile]) !== JSON.stringify(next[k as keyof FileProfile]),
      );
      target.emit('config-reloaded', { path: file, profile, ms: performance.now() - started, restartNeeded });
      return true;
    } catch (err) {
      if (target.isClosed) return false;
      target.alert({
        kind: 'config-invalid',
        message: `Config ${file} (profile ${profile}) not applied; the config in force is kept: ${(err as Error).message}`,
        details: { path: file, profile, error: (err as Error).message, field: (err as GpuArbiterError).details?.field ?? null },
      });
      return false;
    }
  }
}
