// The shapes of a cluster-scope request (RedisLeases.acquirePool): any live node's GPUs that fit,
// placed by Redis in one script (./lua/pool-acquire.ts).
import type { NodeGpu, PoolNode } from '../cluster';
import type { RedisAcquireRequest, RedisGrant } from './types';

export type PoolPlacement = 'binpack' | 'spread';

export interface RedisPoolRequest extends Omit<RedisAcquireRequest, 'resource' | 'queueGroup' | 'queueLimit'> {
  /** GPUs, all of one node. @default 1 */
  gpus?: number;
  /** Only nodes whose labels include all of these. @default {} (any node) */
  labels?: Record<string, string>;
  /** binpack: the GPU left with the least free (keeps large GPUs whole); spread: the most free. @default 'binpack' */
  placement?: PoolPlacement;
}

export type { PoolNode } from '../cluster';

export interface RedisPoolGrant {
  node: PoolNode;
  /** The GPUs granted, as the node registered them, in the order of `grants`. */
  gpus: NodeGpu[];
  /** One lease per GPU (resource `<nodeId>/gpu<i>`), renewed and released as any lease. */
  grants: RedisGrant[];
}
