// The job BullMQ would hand out next, read without taking it, so the worker can size a lease for
// it first. BullMQ's moveToActive takes the oldest job of the wait list, else the first of the
// prioritized set; it also promotes delayed jobs that are due - which a worker that only looks
// must do itself (promoteDue), or retries with a backoff would never come back.
import type { Job, Queue } from 'bullmq';

/** How many due delayed jobs one look promotes at most (the rest at the next look). */
const PROMOTE_BATCH = 50;

/** Moves delayed jobs whose time has come to the wait list (as BullMQ's own fetch does). */
export async function promoteDue(queue: Queue): Promise<void> {
  const due = await queue.getDelayedCount(Date.now());
  if (due === 0) return;
  // Ascending score = earliest due first, so the first `due` of them are the due ones.
  const jobs = await queue.getJobs(['delayed'], 0, Math.min(due, PROMOTE_BATCH) - 1, true);
  for (const job of jobs) {
    // Another worker may have promoted it (or BullMQ moved it) since: nothing to do then.
    await job.promote().catch(() => undefined);
  }
}

/** The job at the head of the queue, or null when none waits. */
export async function peekNextJob<D>(queue: Queue): Promise<Job<D> | null> {
  await promoteDue(queue);
  const [waiting] = await queue.getJobs(['wait'], 0, 0, true);
  if (waiting !== undefined) return waiting as Job<D>;
  const [prioritized] = await queue.getJobs(['prioritized'], 0, 0, true);
  return (prioritized as Job<D> | undefined) ?? null;
}
