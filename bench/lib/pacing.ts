/**
 * Sends `count` operations on a fixed schedule (operation k at start + k × intervalMs), without
 * waiting for earlier ones to finish, so a slow acknowledgement does not slow the arrival rate
 * (open-loop load). At most `maxOutstanding` operations are in flight; when that cap is hit the
 * schedule slips and `behind` counts how often.
 */
export async function paced(count: number, intervalMs: number, op: (i: number) => Promise<void>, maxOutstanding = 256): Promise<{ behind: number }> {
  const start = performance.now();
  const inFlight = new Set<Promise<void>>();
  let behind = 0;
  for (let i = 0; i < count; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    else if (wait > 0) await new Promise((r) => setImmediate(r));
    if (inFlight.size >= maxOutstanding) {
      behind += 1;
      await Promise.race(inFlight);
    }
    const p: Promise<void> = op(i).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  return { behind };
}
