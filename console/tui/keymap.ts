// The console's keys in one table: each binding says where it works, what it does and how
// it changes the state. The reducer dispatches through it, and the help ("?") and the hint
// line are generated from it, so a key cannot exist without being documented (or the other
// way round). Keys follow k9s: ":" commands, "/" filter, j/k, "?" help, esc back, q quit.

import type { State, View } from './state.js';

export type Key = { input: string; escape?: boolean; return?: boolean; upArrow?: boolean; downArrow?: boolean; backspace?: boolean; delete?: boolean; ctrl?: boolean };

/** Views that show a scrollable list of lines fetched from the daemon. */
export const LIST_VIEWS: readonly View[] = ['message', 'audit', 'keys', 'policies', 'users', 'portal'];

/** Where a binding works: everywhere, in every scrolled list (and the help), or in one view. */
export type Scope = 'everywhere' | 'lists' | View;

export interface Binding {
  /** Key names: a character, or esc, enter, space, up, down, ctrl-c. */
  keys: string[];
  scope: Scope;
  /** The help's text. */
  does: string;
  /** The hint line's word, when it deserves a place there, and the keys it shows (else the first). */
  hint?: string;
  hintKeys?: string;
  /** Changes the appliance: refused in a read-only (auditor) console. */
  mutates?: boolean;
  /** Needs a selected queue row. */
  needsRow?: boolean;
  run: (s: State, ctx: Context) => State;
}

export interface Context {
  /** The selected queue row's id, when there is one. */
  current: string | null;
  /** The queue messages an action applies to: the marked ones, else the selected one. */
  targets: string[];
  /** How many lines the scrolled view has. */
  length: number;
  /** Opens the command line with `text` (":" and "?" use it). */
  command: (s: State, text: string) => State;
}

export function keyName(key: Key): string {
  if (key.escape) return 'esc';
  if (key.return) return 'enter';
  if (key.upArrow) return 'up';
  if (key.downArrow) return 'down';
  if (key.ctrl) return `ctrl-${key.input}`;
  if (key.input === ' ') return 'space';
  return key.input;
}

const readOnlyText: Partial<Record<Scope, string>> = { queue: 'the queue', policies: 'the policy', keys: 'keys', users: 'users' };

/** The ":" commands, for the help (the reducer's runCommand carries them out). */
export const COMMAND_HELP: Array<[string, string]> = [
  [':queue [state]', 'the delivery queue (message states: queued, deferred, held, sent, bounced, portal, deleted)'],
  [':home (:health)', 'health, alerts and queue counts'],
  [':message ID', 'one message: protection decision, rules, detectors, attempts (never the body)'],
  [':audit', 'recent audit events'],
  [':keys', 'recipient OpenPGP keys and S/MIME certificates, with their expiry'],
  [':policies', 'the active protection rules'],
  [':users', 'console users and their roles'],
  [':portal', 'portal items and whether they were opened'],
  [':help', 'this help'],
  [':quit', 'quit'],
];

export const BINDINGS: Binding[] = [
  { keys: [':'], scope: 'everywhere', does: 'command mode (tab completes, enter runs)', hint: 'command', run: (s) => ({ ...s, mode: 'command', input: '', flash: null }) },
  { keys: ['?'], scope: 'everywhere', does: 'this help', hint: 'help', run: (s, c) => c.command(s, 'help') },
  { keys: ['q', 'ctrl-c'], scope: 'everywhere', does: 'quit', hint: 'quit', run: (s) => ({ ...s, quit: true }) },
  {
    keys: ['esc'],
    scope: 'everywhere',
    does: 'back (from help: where you were; clears a filter; else home)',
    hint: 'back',
    run: (s) => (s.view === 'help' ? { ...s, view: s.back } : s.filter ? { ...s, filter: '' } : { ...s, view: 'home' }),
  },

  { keys: ['j', 'down'], scope: 'lists', does: 'scroll down', hint: 'scroll', hintKeys: 'j/k', run: (s, c) => ({ ...s, scroll: Math.min(s.scroll + 1, Math.max(0, c.length - s.listHeight)) }) },
  { keys: ['k', 'up'], scope: 'lists', does: 'scroll up', run: (s) => ({ ...s, scroll: Math.max(0, s.scroll - 1) }) },
  { keys: ['g'], scope: 'lists', does: 'to the top', run: (s) => ({ ...s, scroll: 0 }) },
  { keys: ['G'], scope: 'lists', does: 'to the bottom', run: (s, c) => ({ ...s, scroll: Math.max(0, c.length - s.listHeight) }) },

  { keys: ['v'], scope: 'audit', does: 'verify the audit chain', hint: 'verify the chain', run: (s) => ({ ...s, request: { method: 'audit.verify' } }) },
  { keys: ['e'], scope: 'policies', does: 'edit the rules in $EDITOR: validated, diffed, replayed, activated only on y', hint: 'edit in $EDITOR', mutates: true, run: (s) => ({ ...s, request: { method: 'policy.edit' } }) },
  { keys: ['t'], scope: 'policies', does: 'test an .eml file against the rules (nothing is sent)', hint: 'test an .eml', run: (s) => ({ ...s, mode: 'path', input: '', pending: { action: 'policy-test', ids: [] } }) },
  { keys: ['a'], scope: 'users', does: 'add a console user: a Unix user name and a role', hint: 'add', mutates: true, run: (s) => ({ ...s, mode: 'path', input: '', pending: { action: 'user-add', ids: [] } }) },
  { keys: ['d'], scope: 'users', does: 'remove a console user (confirm with y; anything else cancels)', hint: 'remove', mutates: true, run: (s) => ({ ...s, mode: 'path', input: '', pending: { action: 'user-remove', ids: [] } }) },
  { keys: ['i'], scope: 'keys', does: 'import an armored PGP public key or a PEM certificate from a file', hint: 'import', mutates: true, run: (s) => ({ ...s, mode: 'path', input: '', pending: { action: 'key-import', ids: [] } }) },

  { keys: ['/'], scope: 'queue', does: 'filter the table (id, state, recipient)', hint: 'filter', run: (s) => ({ ...s, mode: 'filter', input: s.filter }) },
  { keys: ['j', 'down'], scope: 'queue', does: 'next message', hint: 'move', hintKeys: 'j/k', run: (s) => ({ ...s, cursor: Math.min(s.cursor + 1, Math.max(0, s.total - 1)) }) },
  { keys: ['k', 'up'], scope: 'queue', does: 'previous message', run: (s) => ({ ...s, cursor: Math.max(0, s.cursor - 1) }) },
  { keys: ['g'], scope: 'queue', does: 'first message', run: (s) => ({ ...s, cursor: 0 }) },
  { keys: ['G'], scope: 'queue', does: 'last message', run: (s) => ({ ...s, cursor: Math.max(0, s.total - 1) }) },
  {
    keys: ['s'],
    scope: 'queue',
    does: 'sort oldest or newest first',
    hint: 'sort',
    run: (s) => {
      const order = s.order === 'oldest' ? 'newest' : 'oldest';
      return { ...s, order, cursor: 0, flash: { text: `sorted ${order} first`, error: false } };
    },
  },
  {
    keys: ['space'],
    scope: 'queue',
    does: 'mark / unmark a message (h, r, t and d then act on all marked)',
    hint: 'mark',
    needsRow: true,
    run: (s, c) => ({ ...s, marked: s.marked.includes(c.current!) ? s.marked.filter((m) => m !== c.current) : [...s.marked, c.current!], cursor: Math.min(s.cursor + 1, Math.max(0, s.total - 1)) }),
  },
  { keys: ['enter'], scope: 'queue', does: 'describe the message (as :message ID)', hint: 'describe', needsRow: true, run: (s, c) => ({ ...s, back: 'queue', view: 'message', arg: c.current, lines: [], scroll: 0 }) },
  { keys: ['h'], scope: 'queue', does: 'hold (reason optional)', hint: 'hold', mutates: true, needsRow: true, run: (s, c) => ({ ...s, mode: 'reason', input: '', pending: { action: 'hold', ids: c.targets } }) },
  { keys: ['r'], scope: 'queue', does: 'release (reason required)', hint: 'release', mutates: true, needsRow: true, run: (s, c) => ({ ...s, mode: 'reason', input: '', pending: { action: 'release', ids: c.targets } }) },
  { keys: ['t'], scope: 'queue', does: 'retry now', hint: 'retry', mutates: true, needsRow: true, run: (s, c) => ({ ...s, request: { method: 'queue.retry', ids: c.targets }, marked: [] }) },
  { keys: ['d'], scope: 'queue', does: 'delete (reason required, then confirm with y; anything else cancels)', hint: 'delete', mutates: true, needsRow: true, run: (s, c) => ({ ...s, mode: 'reason', input: '', pending: { action: 'delete', ids: c.targets } }) },
];

function inScope(b: Binding, view: View): boolean {
  if (b.scope === 'everywhere') return true;
  if (b.scope === 'lists') return LIST_VIEWS.includes(view) || view === 'help';
  return b.scope === view;
}

/** The binding for a key in a view: the view's own first, then lists, then everywhere. */
export function bindingFor(name: string, view: View): Binding | undefined {
  const matching = BINDINGS.filter((b) => b.keys.includes(name) && inScope(b, view));
  return matching.find((b) => b.scope === view) ?? matching.find((b) => b.scope === 'lists') ?? matching[0];
}

/** Normal-mode keys: look the key up and run it, refusing changes in a read-only console. */
export function dispatch(s: State, key: Key, ctx: Context): State {
  const b = bindingFor(keyName(key), s.view);
  if (!b) return s;
  if (b.needsRow && !ctx.current) return s;
  if (b.mutates && s.readOnly) return { ...s, flash: { text: `read-only: your role cannot change ${readOnlyText[b.scope] ?? 'this'}`, error: true } };
  return b.run(s, ctx);
}

const SCOPE_TITLES: Array<[Scope, string]> = [
  ['everywhere', 'Everywhere'],
  ['lists', 'In lists (:message :audit :keys :policies :users :portal and this help)'],
  ['queue', 'In :queue'],
  ['audit', 'In :audit'],
  ['policies', 'In :policies'],
  ['keys', 'In :keys'],
  ['users', 'In :users'],
];

const label = (keys: string[]) => keys.map((k) => (k === 'up' ? '↑' : k === 'down' ? '↓' : k)).join(' ');

/** The help, generated from the commands and the bindings. */
export function helpLines(): string[] {
  const out: string[] = ['Commands', ...COMMAND_HELP.map(([k, v]) => `  ${k.padEnd(20)}${v}`)];
  for (const [scope, title] of SCOPE_TITLES) {
    const bs = BINDINGS.filter((b) => b.scope === scope);
    if (bs.length === 0) continue;
    out.push('', title, ...bs.map((b) => `  ${label(b.keys).padEnd(20)}${b.does}${b.mutates ? ' (admin)' : ''}`));
  }
  return out;
}

/** The hint line for a view in normal mode, generated from the bindings that work there. */
export function hintLine(view: View, readOnly: boolean): string {
  const own = BINDINGS.filter((b) => b.hint && inScope(b, view) && b.scope !== 'everywhere' && !(readOnly && b.mutates));
  const global = BINDINGS.filter((b) => b.hint && b.scope === 'everywhere' && !(b.keys[0] === 'esc' && view === 'home'));
  const show = (b: Binding) => `<${b.hintKeys ?? b.keys[0]}> ${b.hint}`;
  return [...own, ...global].map(show).join('  ') + (readOnly ? '  (read-only)' : '');
}
