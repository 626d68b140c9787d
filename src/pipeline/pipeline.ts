// Ordered pipelines: per-session stages (e.g. ASR -> NMT -> TTS), each stage arbitrated by its
// task's policy through arbiter.run(). Items of one session run concurrently (with each other and
// with other sessions), so they may finish out of order; a per-session reorder buffer delivers
// results strictly in sequence-number order. A skipped stage (its `skip` says so, or a SKIP task
// timed out / found its queue full) passes its input through to the next stage.
import { EventEmitter } from 'node:events';
import type { Lease } from '../arbiter/lease';
import type { RunOptions, RunResult } from '../arbiter/types';
import type { TaskPolicy } from '../policy/task-policy';
import { GpuArbiterError } from '../errors';
import { invalid, knownKeys, nonEmptyString, optionsObject } from '../util/validate';

/** What a stage's functions get besides the input. */
export interface StageContext {
  session: string;
  seq: number;
  stage: string;
  /** The GPU lease (absent for a stage without a task, and in `fallback`/`skip`). */
  lease?: Lease;
}

// biome-ignore lint/suspicious/noExplicitAny: public default type arguments; `unknown` would break callers' stage functions typed on their own inputs
export interface PipelineStage<I = any, O = any> {
  /** Unique within the pipeline. */
  name: string;
  /** Task whose policy arbitrates this stage; absent: runs without a GPU lease. */
  task?: string;
  run: (input: I, ctx: StageContext) => O | Promise<O>;
  /** Returns true to skip the stage for this input: the input passes through. */
  skip?: (input: I, ctx: StageContext) => boolean;
  /** CPU path for FALLBACK_CPU tasks (required for them). */
  fallback?: (input: I, ctx: StageContext) => O | Promise<O>;
}

export interface StageOutcome {
  stage: string;
  status: 'ran' | 'skipped' | 'fell-back';
  /** Why it was skipped or fell back ('skip' for the stage's own skip()). */
  reason?: string;
}

export interface PipelineResult<O = unknown> {
  session: string;
  seq: number;
  /** The last stage's output (absent when `error` is set). */
  output?: O;
  /** The error that stopped this item; later items are still delivered in order. */
  error?: unknown;
  stages: StageOutcome[];
}

/** The part of GpuArbiter a pipeline uses (any object with these methods can drive one). */
export interface PipelineHost {
  run<T, F = T>(task: string, fn: (lease: Lease) => T | Promise<T>, options?: RunOptions<F>): Promise<RunResult<T, F>>;
  policies(): ReadonlyMap<string, TaskPolicy>;
}

interface SessionState {
  nextSeq: number;
  nextToDeliver: number;
  done: Map<number, { result: PipelineResult; resolve: (r: PipelineResult) => void }>;
  pending: number;
  idle: Array<() => void>;
}

/**
 * Events: `result` (PipelineResult), in sequence order per session. {@link submit} resolves at
 * the same moment, also in order.
 */
export class Pipeline<I = unknown, O = unknown> extends EventEmitter {
  private readonly sessions = new Map<string, SessionState>();
  private readonly stages: readonly PipelineStage[];

  constructor(
    private readonly host: PipelineHost,
    stages: readonly PipelineStage[],
  ) {
    super();
    this.stages = validateStages(stages, host.policies());
  }

  /** Stage names, in order. */
  get stageNames(): string[] {
    return this.stages.map((s) => s.name);
  }

  /**
   * Runs `input` through the stages as the next item of `session`. Resolves (never rejects: a
   * failed item resolves with `error`) once this item's result is delivered, after every earlier
   * item of the session.
   */
  submit(session: string, input: I): Promise<PipelineResult<O>> {
    nonEmptyString('session', session);
    let st = this.sessions.get(session);
    if (st === undefined) {
      st = { nextSeq: 0, nextToDeliver: 0, done: new Map(), pending: 0, idle: [] };
      this.sessions.set(session, st);
    }
    const seq = st.nextSeq++;
    st.pending++;
    const state = st;
    return new Promise<PipelineResult<O>>((resolve) => {
      void this.process(session, seq, input).then((result) => {
        state.done.set(seq, { result, resolve: resolve as (r: PipelineResult) => void });
        this.deliver(session, state);
      });
    });
  }

  /** Resolves once every item submitted so far for `session` (or every session) is delivered. */
  drain(session?: string): Promise<void> {
    const list = session === undefined ? [...this.sessions.values()] : [this.sessions.get(session)].filter((s) => s !== undefined);
    return Promise.all(list.map((st) => (st.pending === 0 ? undefined : new Promise<void>((r) => st.idle.push(r))))).then(() => undefined);
  }

  /** Forgets a session whose items are all delivered (its sequence numbers restart at 0). */
  endSession(session: string): void {
    const st = this.sessions.get(session);
    if (st === undefined) return;
    if (st.pending > 0) {
      throw new GpuArbiterError(
        'E_INVALID_ARGUMENT',
        `Session ${JSON.stringify(session)} still has ${st.pending} item(s) in flight; await drain(session) first`,
        {
          field: 'session',
        },
      );
    }
    this.sessions.delete(session);
  }

  private async process(session: string, seq: number, input: unknown): Promise<PipelineResult> {
    const outcomes: StageOutcome[] = [];
    let value = input;
    try {
      for (const stage of this.stages) {
        const ctx: StageContext = { session, seq, stage: stage.name };
        if (stage.skip?.(value, ctx)) {
          outcomes.push({ stage: stage.name, status: 'skipped', reason: 'skip' });
          continue;
        }
        if (stage.task === undefined) {
          value = await stage.run(value, ctx);
          outcomes.push({ stage: stage.name, status: 'ran' });
          continue;
        }
        const current = value;
        const fallback = stage.fallback;
        const r = await this.host.run(stage.task, (lease) => stage.run(current, { ...ctx, lease }), {
          ...(fallback === undefined ? {} : { fallback: () => fallback(current, ctx) }),
        });
        if (r.status === 'ran') {
          value = r.value;
          outcomes.push({ stage: stage.name, status: 'ran' });
        } else if (r.status === 'fell-back') {
          value = r.value;
          outcomes.push({ stage: stage.name, status: 'fell-back', reason: r.reason });
        } else outcomes.push({ stage: stage.name, status: 'skipped', reason: r.reason });
      }
      return { session, seq, output: value, stages: outcomes };
    } catch (error) {
      return { session, seq, error, stages: outcomes };
    }
  }

  private deliver(_session: string, st: SessionState): void {
    for (;;) {
      const next = st.done.get(st.nextToDeliver);
      if (next === undefined) break;
      st.done.delete(st.nextToDeliver);
      st.nextToDeliver++;
      st.pending--;
      try {
        this.emit('result', next.result);
      } catch {
        // a throwing listener must not stop delivery
      }
      next.resolve(next.result);
    }
    if (st.pending === 0) {
      const idle = st.idle;
      st.idle = [];
      for (const r of idle) r();
    }
  }
}

function validateStages(value: unknown, policies: ReadonlyMap<string, TaskPolicy>): PipelineStage[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid('stages', 'a non-empty array of stages', value);
  const names = new Set<string>();
  return value.map((raw, i) => {
    const f = `stages[${i}]`;
    const s = optionsObject<PipelineStage>(f, raw);
    if (raw === undefined) throw invalid(f, 'a stage object', raw);
    knownKeys(f, s, ['name', 'task', 'run', 'skip', 'fallback']);
    const name = nonEmptyString(`${f}.name`, s.name);
    if (names.has(name)) throw invalid(`${f}.name`, 'a name not used by another stage', name);
    names.add(name);
    if (typeof s.run !== 'function') throw invalid(`${f}.run`, 'a function', s.run);
    if (s.skip !== undefined && typeof s.skip !== 'function') throw invalid(`${f}.skip`, 'a function', s.skip);
    if (s.fallback !== undefined && typeof s.fallback !== 'function') throw invalid(`${f}.fallback`, 'a function', s.fallback);
    if (s.task !== undefined) {
      nonEmptyString(`${f}.task`, s.task);
      const p = policies.get(s.task);
      if (p === undefined) throw invalid(`${f}.task`, `a configured task (${[...policies.keys()].join(', ')})`, s.task);
      if (p.busyPolicy === 'FALLBACK_CPU' && s.fallback === undefined) {
        throw invalid(`${f}.fallback (task ${s.task} is FALLBACK_CPU)`, 'a function', s.fallback);
      }
    }
    return { ...s } as PipelineStage;
  });
}
