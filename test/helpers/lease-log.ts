// The checker of the multi-process capacity tests: replays the log the lease-client fixture
// appends while holding.
/**
 * Replays the processes' shared log ("A|R resource fence units", appended while holding) and
 * returns the peak units held per resource plus fencing facts. A and R lines sit inside the
 * real hold, so any overlap beyond capacity in the log is a real one.
 */
export function checkLog(
  text: string,
  mutexes: Set<string>,
): {
  peak: Record<string, number>;
  grants: Record<string, number>;
  duplicateFences: number;
  mutexOrderViolations: Record<string, number>;
  unmatched: number;
} {
  const held: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const grants: Record<string, number> = {};
  const open = new Set<string>();
  const seen = new Set<string>();
  const lastFence: Record<string, number> = {};
  const mutexOrderViolations: Record<string, number> = {};
  let duplicateFences = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [kind, resource, fenceText, unitsText] = line.split(' ') as [string, string, string, string];
    const units = Number(unitsText);
    const key = `${resource} ${fenceText}`;
    if (kind === 'A') {
      if (seen.has(key)) duplicateFences++;
      seen.add(key);
      open.add(key);
      grants[resource] = (grants[resource] ?? 0) + 1;
      held[resource] = (held[resource] ?? 0) + units;
      peak[resource] = Math.max(peak[resource] ?? 0, held[resource] as number);
      // On a mutex, grants are serial: the log order is the grant order.
      const f = Number(fenceText);
      if (mutexes.has(resource) && lastFence[resource] !== undefined && f <= (lastFence[resource] as number)) {
        mutexOrderViolations[resource] = (mutexOrderViolations[resource] ?? 0) + 1;
      }
      lastFence[resource] = f;
    } else {
      open.delete(key);
      held[resource] = (held[resource] ?? 0) - units;
    }
  }
  return { peak, grants, duplicateFences, mutexOrderViolations, unmatched: open.size };
}
