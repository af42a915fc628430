// At most `limit` tasks at once, the rest wait in order: the portal parses a stored message
// (decrypt + MIME parse, several times its size in memory) for every view, download and
// reply, so many parallel downloads of a large attachment must not parse it all at once.
// A finishing task hands its slot straight to the next waiter, so the limit is never exceeded.

export class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Tasks running and waiting now. */
  load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
