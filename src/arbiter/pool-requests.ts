// The request path of a cluster-scope arbiter (options.scope 'cluster'): the ledger (Redis) places
// the job on any live node's GPUs that fit and queues it across nodes when none does, so nothing
// is placed here (this process may have no GPU at all). The lease names the node it is on.
import type { PoolRequest } from '../backends/contract';
import { GpuArbiterError, isGpuArbiterError } from '../errors';
import type { TaskPolicy } from '../policy/task-policy';
import { Lease, type LeaseDevice, type LeaseEnv, LeaseHolderInfo } from './lease';
import type { LeaseBook } from './lease-book';
import type { ParsedAcquireOptions } from './options';
import { SetGrant } from './set-grant';
import type { ArbiterState } from './state';
import { armWatchdog } from './watchdog';

/** @internal What the pool path needs from Requests: the shared bookkeeping of a grant and a failure. */
export interface PoolRequestHooks {
  nextLeaseSeq(): number;
  granted(lease: Lease): Lease;
  failed(policy: TaskPolicy, err: unknown): unknown;
}

/** @internal One cluster-scope acquire: units on opts.gpus GPUs of one node anywhere in the pool. */
export function acquireOnPool(
  s: ArbiterState,
  book: LeaseBook,
  hooks: PoolRequestHooks,
  policy: TaskPolicy,
  opts: ParsedAcquireOptions,
  units: number,
  priority: number,
  mapErrors: boolean,
): Promise<Lease> {
  const backend = s.backend;
  if (backend.acquirePool === undefined) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Backend ${backend.kind} cannot place jobs across nodes (scope 'cluster' needs backend 'redis')`);
  }
  const maxWait = opts.maxWaitMs ?? policy.maxWaitMs;
  const deadline = policy.busyPolicy === 'REJECT' ? Date.now() : maxWait === null ? undefined : Date.now() + maxWait;
  const holder = new LeaseHolderInfo(hooks.nextLeaseSeq(), policy.task, opts.pid, opts.label);
  const request: PoolRequest = {
    units,
    gpus: opts.gpus,
    priority,
    deadline,
    signal: opts.signal,
    holder,
    onLost: book.lost,
    labels: s.cluster?.labels ?? {},
    placement: s.config.placement,
  };
  const stats = s.metrics.stats(policy.task);
  s.waitStarted();
  return backend.acquirePool(request).then(
    (placed) => {
      s.waitEnded();
      const grant = new SetGrant(placed.grants);
      const devices: LeaseDevice[] = placed.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name }));
      // On the node the job is sent to, CUDA numbers GPUs its own way: name them by UUID.
      const env: LeaseEnv = { CUDA_VISIBLE_DEVICES: devices.map((d) => d.uuid ?? String(d.index)).join(','), CUDA_DEVICE_ORDER: 'PCI_BUS_ID' };
      const lease = new Lease(holder, policy.task, devices[0]!, env, units, opts.pid, grant, grant.waitedMs, policy, stats, book.release, devices);
      lease.node = placed.node;
      s.leases.add(lease);
      if (policy.holdMaxMs !== null) armWatchdog(lease, policy.holdMaxMs, book.watchdog);
      return hooks.granted(lease);
    },
    (err: unknown) => {
      s.waitEnded();
      if (isGpuArbiterError(err, 'E_DOES_NOT_FIT')) {
        const largest = Number(err.details.largestCapacity);
        s.demand.note(policy.task, units, Number.isFinite(largest) && largest >= 0 ? largest : null, 'too-small');
      } else if (isGpuArbiterError(err, 'E_NO_DEVICE')) s.demand.note(policy.task, units, null, 'no-device');
      throw mapErrors ? hooks.failed(policy, err) : err;
    },
  );
}
