// bullmq is an optional peer dependency: loaded here on the first GpuWorker, so importing
// `gpu-arbiter/bullmq` without it installed fails only when a worker is made, with a message
// that names the package.
import type * as Bullmq from 'bullmq';
import { GpuArbiterError } from '../errors';

let loaded: typeof Bullmq | null = null;

export function loadBullmq(): typeof Bullmq {
  if (loaded !== null) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('bullmq') as typeof Bullmq;
  } catch (err) {
    throw new GpuArbiterError(
      'E_INVALID_ARGUMENT',
      'GpuWorker needs bullmq (an optional peer dependency): npm install bullmq',
      { field: 'bullmq' },
      { cause: err },
    );
  }
  return loaded;
}
