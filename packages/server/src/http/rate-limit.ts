/**
 * Per-API-key rate limiting (reliability S8): one token bucket per key id, checked by the auth
 * guard right after a key is verified and before the body is read, so a flood from one key is
 * refused cheaply (429 `rate_limited` with `Retry-After`) and never slows other keys.
 *
 * Invariants:
 * - Only verified keys get a bucket: a request with a bad key is a 401 and costs no memory here,
 *   so the map holds at most one bucket per configured key (plus the few that were revoked).
 * - A bucket holds at most `burst` tokens and refills at `perSecond`; each request takes one.
 * - Time comes from an injectable monotonic clock (tests drive it by hand; no sleeping).
 * - Without auth (loopback only) there are no keys and nothing is limited.
 */

export interface RateLimitOptions {
  /** Sustained requests per second allowed to one key; default 1,000. */
  perSecond?: number;
  /** Requests one key may send at once before the sustained rate applies; default 2,000. */
  burst?: number;
}

export interface ResolvedRateLimit {
  perSecond: number;
  burst: number;
}

export const DEFAULT_RATE_LIMIT: ResolvedRateLimit = { perSecond: 1000, burst: 2000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class KeyRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: ResolvedRateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Takes one token from `keyId`'s bucket. Answers 0 when the request may go on, else the
   * whole seconds to wait before one token is back (for `Retry-After`, at least 1).
   */
  take(keyId: string): number {
    const now = this.now();
    let bucket = this.buckets.get(keyId);
    if (!bucket) {
      bucket = { tokens: this.limit.burst, at: now };
      this.buckets.set(keyId, bucket);
    }
    const refill = ((now - bucket.at) / 1000) * this.limit.perSecond;
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + Math.max(0, refill));
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }
}
