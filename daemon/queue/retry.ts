// The retry schedule, as a readable table (cumulative time since the first attempt in the
// comments). After the last step it repeats every 2 hours until the give-up age.

const MIN = 60_000;
const HOUR = 60 * MIN;

export const RETRY_DELAYS_MS: readonly number[] = [
  1 * MIN, //  1m   after attempt 1
  5 * MIN, //  6m   after attempt 2
  15 * MIN, // 21m  after attempt 3
  30 * MIN, // 51m  after attempt 4
  1 * HOUR, // 1h51 after attempt 5
  2 * HOUR, // 3h51, then every 2h
];

/** Delay before the next attempt, after `attempts` attempts have failed temporarily. */
export function retryDelay(attempts: number): number {
  return RETRY_DELAYS_MS[Math.min(Math.max(attempts, 1), RETRY_DELAYS_MS.length) - 1]!;
}

export const DEFAULT_GIVE_UP_MS = 5 * 24 * HOUR; // Postfix maximal_queue_lifetime
