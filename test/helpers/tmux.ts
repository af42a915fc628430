// A program in a detached tmux session, driven like a person at a terminal: keys in with
// send-keys, the screen out with capture-pane (optionally with its colours). tmux has no
// "the pane changed" event, so waiting for a screen polls it.

import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

export class TmuxSession {
  /** Starts `command` (a shell line) in a cols x rows pane. */
  constructor(
    readonly name: string,
    command: string,
    size: { cols: number; rows: number },
  ) {
    tmux('new-session', '-d', '-s', name, '-x', String(size.cols), '-y', String(size.rows), command);
  }

  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** The pane as text, or with its colours as ANSI escapes. */
  screen(opts: { colours?: boolean } = {}): string {
    return tmux('capture-pane', '-p', ...(opts.colours ? ['-e'] : []), '-t', this.name);
  }

  /**
   * The screen once `match` holds, and how long that took. `explain` adds to the error when
   * it never does (what the program printed elsewhere, for instance).
   */
  async until(match: (text: string) => boolean, what: string, opts: { timeoutMs?: number; pollMs?: number; explain?: () => string } = {}): Promise<{ text: string; ms: number }> {
    const t0 = performance.now();
    for (;;) {
      const text = this.screen();
      if (match(text)) return { text, ms: performance.now() - t0 };
      if (performance.now() - t0 > (opts.timeoutMs ?? 10_000)) throw new Error(`the program never showed ${what}:\n${text}${opts.explain ? `\n${opts.explain()}` : ''}`);
      await delay(opts.pollMs ?? 100);
    }
  }

  kill(): void {
    try {
      tmux('kill-session', '-t', this.name);
    } catch {
      // already gone
    }
  }
}
