// Waiter ids (a lease's token once granted): 128 random bits as 32 hex characters. Drawn from a
// pool filled 256 ids at a time: randomBytes(16) per acquire() costs a call into OpenSSL (and a
// getpid() system call) for every id, the largest part of acquire()'s own work before this.
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
const POOL_IDS = 256;
const pool = Buffer.alloc(ID_BYTES * POOL_IDS);
let next = POOL_IDS;

/** A new random id (32 hex characters); never handed out twice (each comes from fresh bytes). */
export function newId(): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const at = next++ * ID_BYTES;
  return pool.toString('hex', at, at + ID_BYTES);
}
