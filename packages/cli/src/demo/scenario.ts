/**
 * The demo's story as data: the queues and their roles, what each upload is (who uploaded it,
 * paid or free, corrupt or not, how often the email service will fail for it), and how long each
 * simulated step takes. Pure functions of (seed, upload number): no I/O, no clock.
 *
 * Decisions are drawn per upload from `mix(seed, seq)`, so upload #17 of seed 42 is always the
 * same upload, whether the producer reached it in one run or after a restart.
 */
import { intBetween, mix, mulberry32, pick } from './prng.js';

/** The demo's queues. Paid and free uploads share one pool of transcoders, paid weighted first. */
export const QUEUES = {
  paid: 'video.paid',
  free: 'video.free',
  transcode: 'video.transcode',
  moderation: 'moderation',
  notifications: 'notifications',
} as const;

export const QUEUE_ROLES: Record<string, string> = {
  [QUEUES.paid]: 'paid uploads: probe, then start the flow',
  [QUEUES.free]: 'free uploads: probe, then start the flow',
  [QUEUES.transcode]: 'flow children: renditions + thumbnail',
  [QUEUES.moderation]: 'flow child: content checks, critical',
  [QUEUES.notifications]: 'flow parent: email once all are done',
};

export type Tier = 'paid' | 'free';
export type Rendition = '720p' | '1080p' | '4k';

/** Paid uploads get 4K as well; free ones stop at 1080p. */
export const RENDITIONS: Record<Tier, readonly Rendition[]> = { paid: ['720p', '1080p', '4k'], free: ['720p', '1080p'] };

/** Simulated durations at speed 1, in ms (a transcode is multiplied by the upload's `size`). */
export const DURATIONS = {
  probe: 300,
  thumbnail: 150,
  rendition: { '720p': 700, '1080p': 1100, '4k': 2200 } as Record<Rendition, number>,
  moderation: 600,
  email: 200,
  /** First retry delay of an email; doubles each time. */
  emailBackoff: 1000,
  /** Mean time between bursts of uploads. */
  burstEvery: 10_000,
};

/** The payload of a `process_video` job: the upload and everything decided about it. */
export interface UploadPlan {
  seq: number;
  file: string;
  user: string;
  email: string;
  tier: Tier;
  /** Why the file cannot be decoded, or null for a good file. */
  corrupt: string | null;
  /** How many times the email service fails before it accepts this upload's notification. */
  emailFailures: number;
  /** Whether moderation flags the video (it is still published: the demo only records it). */
  flagged: boolean;
  /** Relative length of the video: scales the transcode time (0.7..1.3). */
  size: number;
}

const USERS = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'ken', 'margaret', 'linus', 'radia', 'donald', 'frances', 'tim'];
const TITLES = ['holiday', 'cat', 'recipe', 'unboxing', 'lecture', 'drone', 'wedding', 'gameplay', 'tutorial', 'concert'];
const CORRUPTIONS = ['moov atom not found', 'truncated upload: stream ends mid-frame', 'unsupported codec: cinepak', 'invalid container header'];

/** Probabilities of the story (tests rely on a fixed seed, not on these exact numbers). */
export const ODDS = { paid: 0.35, corrupt: 0.08, flagged: 0.06, emailFailures: [0.74, 0.88, 0.96] as const };

export function planUpload(seed: number, seq: number): UploadPlan {
  const random = mulberry32(mix(seed, seq));
  const user = pick(random, USERS);
  const tier: Tier = random() < ODDS.paid ? 'paid' : 'free';
  const corrupt = random() < ODDS.corrupt ? pick(random, CORRUPTIONS) : null;
  const r = random();
  const emailFailures = r < ODDS.emailFailures[0] ? 0 : r < ODDS.emailFailures[1] ? 1 : r < ODDS.emailFailures[2] ? 2 : 3;
  const flagged = random() < ODDS.flagged;
  const size = Math.round((0.7 + random() * 0.6) * 100) / 100;
  const file = `${pick(random, TITLES)}-${seq}.mp4`;
  return { seq, file, user, email: `${user}@example.com`, tier, corrupt, emailFailures, flagged, size };
}

/** Burst sizes of one producer run (a run starting at upload `firstSeq`). */
export function burstSizes(seed: number, firstSeq: number, min: number, max: number): () => number {
  const random = mulberry32(mix(seed, 0x6275, firstSeq));
  return () => intBetween(random, min, max);
}

/** Milliseconds until the next burst: the mean ±25 %, from the same kind of seeded stream. */
export function burstGaps(seed: number, firstSeq: number, meanMs: number): () => number {
  const random = mulberry32(mix(seed, 0x6761, firstSeq));
  return () => Math.round(meanMs * (0.75 + random() * 0.5));
}

/** Validates the payload of a job read back from the database (older runs, other versions). */
export function isUploadPlan(value: unknown): value is UploadPlan {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.seq === 'number' && typeof v.file === 'string' && typeof v.email === 'string' && (v.tier === 'paid' || v.tier === 'free');
}
