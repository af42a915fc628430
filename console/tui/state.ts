// The console's state machine: a pure reducer from (state, event) to state, so navigation,
// the table cursor, filtering, command mode and the reason prompt are unit-tested without a
// terminal. Side effects (control API calls) are requested through `state.request` and
// performed by the app, which reports back with `result` / `failed` events.
// Keys follow k9s: ":" commands, "/" filter, j/k or arrows, "?" help, esc back, q quit.

import type { QueueEntry } from '../../shared/domain.js';

export type View = 'home' | 'queue' | 'help' | 'message' | 'audit' | 'keys' | 'policies' | 'users' | 'portal';

/** Views that show a scrollable list of lines fetched from the daemon. */
export const LIST_VIEWS: readonly View[] = ['message', 'audit', 'keys', 'policies', 'users', 'portal'];

export type Request =
  | { method: 'queue.hold'; ids: string[]; reason: string }
  | { method: 'queue.release'; ids: string[]; reason: string }
  | { method: 'queue.retry'; ids: string[] }
  | { method: 'queue.delete'; ids: string[]; reason: string }
  | { method: 'audit.verify' }
  | { method: 'policy.edit' }
  | { method: 'policy.test'; path: string }
  | { method: 'keys.import'; path: string };

export interface State {
  view: View;
  back: View;
  mode: 'normal' | 'command' | 'filter' | 'reason' | 'confirm' | 'path';
  input: string;
  filter: string;
  stateFilter: string | null;
  /** The loaded page of the queue: rows[i] is message number offset + i of `total`. */
  rows: QueueEntry[];
  total: number;
  offset: number;
  /** Index of the selected message in the whole (filtered) queue. */
  cursor: number;
  /** The argument of the view (:message ID). */
  arg: string | null;
  /** Lines of a list view, and how far it is scrolled. */
  lines: string[];
  scroll: number;
  /** An action waiting for its reason (and, for delete, a confirmation). */
  pending: { action: 'hold' | 'release' | 'delete' | 'policy-test' | 'key-import'; ids: string[]; reason?: string } | null;
  /** Messages marked with space: actions apply to all of them. */
  marked: string[];
  /** Queue order: oldest first (default) or newest first. */
  order: 'oldest' | 'newest';
  request: Request | null;
  flash: { text: string; error: boolean } | null;
  quit: boolean;
  readOnly: boolean;
}

export type Key = { input: string; escape?: boolean; return?: boolean; upArrow?: boolean; downArrow?: boolean; backspace?: boolean; delete?: boolean; ctrl?: boolean };

export type Event = { type: 'key'; key: Key } | { type: 'rows'; rows: QueueEntry[]; total?: number; offset?: number } | { type: 'lines'; lines: string[] } | { type: 'result'; text: string } | { type: 'failed'; text: string } | { type: 'requested' };

export const COMMANDS = ['home', 'health', 'queue', 'message', 'audit', 'keys', 'policies', 'users', 'portal', 'help', 'quit'] as const;

export function initialState(readOnly = false): State {
  return { view: 'home', back: 'home', mode: 'normal', input: '', filter: '', stateFilter: null, rows: [], total: 0, offset: 0, cursor: 0, marked: [], order: 'oldest', arg: null, lines: [], scroll: 0, pending: null, request: null, flash: null, quit: false, readOnly };
}

/** The row at a queue index, if its page is loaded (the "/" filter runs in the daemon). */
export function rowAt(s: State, index: number): QueueEntry | undefined {
  return s.rows[index - s.offset];
}

/** Which page the table needs for the cursor: pages of PAGE rows, fetched with a page of margin on each side. */
export const PAGE = 250;
export function pageFor(cursor: number): { offset: number; limit: number } {
  const start = Math.max(0, (Math.floor(cursor / PAGE) - 1) * PAGE);
  return { offset: start, limit: PAGE * 3 };
}

/** The first `height` rows around the cursor: tables render only what fits. */
export function windowOf(total: number, cursor: number, height: number): { start: number; end: number } {
  if (total <= height) return { start: 0, end: total };
  const start = Math.min(Math.max(0, cursor - Math.floor(height / 2)), total - height);
  return { start, end: start + height };
}

/** Completion for ":" commands: the single command starting with the typed text. */
export function complete(input: string): string {
  const [word, ...rest] = input.split(' ');
  if (rest.length > 0) return input;
  const matches = COMMANDS.filter((c) => c.startsWith(word ?? ''));
  return matches.length === 1 ? matches[0]! : input;
}

function runCommand(s: State, line: string): State {
  const [cmd, arg] = complete(line.trim()).split(/\s+/);
  switch (cmd) {
    case 'home':
    case 'health':
      return { ...s, view: 'home', mode: 'normal', input: '' };
    case 'message':
      if (!arg) return { ...s, mode: 'normal', input: '', flash: { text: 'usage: :message ID (or enter on a queue row)', error: true } };
      return { ...s, back: s.view, view: 'message', arg: arg.toUpperCase(), mode: 'normal', input: '', lines: [], scroll: 0 };
    case 'audit':
    case 'keys':
    case 'policies':
    case 'users':
    case 'portal':
      return { ...s, back: s.view, view: cmd, arg: null, mode: 'normal', input: '', lines: [], scroll: 0 };
    case 'queue':
      return { ...s, view: 'queue', mode: 'normal', input: '', stateFilter: arg ?? null, cursor: 0, filter: '' };
    case 'help':
      return { ...s, back: s.view === 'help' ? s.back : s.view, view: 'help', mode: 'normal', input: '', scroll: 0 };
    case 'q':
    case 'quit':
      return { ...s, quit: true };
    default:
      return { ...s, mode: 'normal', input: '', flash: { text: `unknown command: ${cmd ?? ''} (try :queue, :home, :help)`, error: true } };
  }
}

function editInput(s: State, key: Key): State | null {
  if (key.escape) return { ...s, mode: 'normal', input: '', pending: s.mode === 'reason' || s.mode === 'confirm' || s.mode === 'path' ? null : s.pending };
  if (key.backspace || key.delete) return { ...s, input: s.input.slice(0, -1) };
  if (key.input === '\t' && s.mode === 'command') return { ...s, input: complete(s.input) };
  if (key.return) return null; // handled by the caller
  if (key.input && !key.ctrl && key.input >= ' ') return { ...s, input: s.input + key.input };
  return s;
}

export function reduce(s: State, e: Event): State {
  switch (e.type) {
    case 'lines':
      return { ...s, lines: e.lines, scroll: Math.min(s.scroll, Math.max(0, e.lines.length - 1)) };
    case 'rows': {
      const total = e.total ?? e.rows.length;
      return { ...s, rows: e.rows, total, offset: e.offset ?? 0, cursor: Math.min(s.cursor, Math.max(0, total - 1)) };
    }
    case 'requested':
      return { ...s, request: null };
    case 'result':
      return { ...s, flash: { text: e.text, error: false } };
    case 'failed':
      return { ...s, flash: { text: e.text, error: true } };
    case 'key':
      return onKey(s, e.key);
  }
}

function onKey(s: State, key: Key): State {
  if (s.mode === 'command' || s.mode === 'filter' || s.mode === 'reason' || s.mode === 'path') {
    const edited = editInput(s, key);
    if (edited) return edited;
    if (s.mode === 'path') {
      const path = s.input.trim();
      if (!path || !s.pending) return { ...s, mode: 'normal', input: '', pending: null };
      const request: Request = s.pending.action === 'policy-test' ? { method: 'policy.test', path } : { method: 'keys.import', path };
      return { ...s, mode: 'normal', input: '', pending: null, request };
    }
    // return pressed
    if (s.mode === 'command') return runCommand(s, s.input);
    if (s.mode === 'filter') return { ...s, mode: 'normal', filter: s.input, input: '', cursor: 0 };
    const reason = s.input.trim();
    if (!s.pending) return { ...s, mode: 'normal', input: '' };
    if (s.pending.action !== 'hold' && reason.length < 3) return { ...s, flash: { text: 'a reason of at least 3 characters is required', error: true } };
    if (s.pending.action === 'delete') return { ...s, mode: 'confirm', input: '', pending: { ...s.pending, reason } };
    const request: Request = s.pending.action === 'hold' ? { method: 'queue.hold', ids: s.pending.ids, reason: reason || 'held from the console' } : { method: 'queue.release', ids: s.pending.ids, reason };
    return { ...s, mode: 'normal', input: '', pending: null, marked: [], request };
  }
  if (s.mode === 'confirm') {
    // Cancel is the default: only "y" deletes
    if (key.input === 'y' && s.pending?.action === 'delete') return { ...s, mode: 'normal', request: { method: 'queue.delete', ids: s.pending.ids, reason: s.pending.reason ?? '' }, pending: null, marked: [] };
    return { ...s, mode: 'normal', pending: null, flash: { text: 'cancelled', error: false } };
  }
  // normal mode
  if (key.input === ':') return { ...s, mode: 'command', input: '', flash: null };
  if (key.input === '?') return runCommand(s, 'help');
  if (key.input === 'q' || (key.ctrl && key.input === 'c')) return { ...s, quit: true };
  if (key.escape) {
    if (s.view === 'help') return { ...s, view: s.back };
    if (s.filter) return { ...s, filter: '' };
    return { ...s, view: 'home' };
  }
  if (LIST_VIEWS.includes(s.view) || s.view === 'help') {
    const length = s.view === 'help' ? HELP.length : s.lines.length;
    if (key.input === 'j' || key.downArrow) return { ...s, scroll: Math.min(s.scroll + 1, Math.max(0, length - 1)) };
    if (key.input === 'k' || key.upArrow) return { ...s, scroll: Math.max(0, s.scroll - 1) };
    if (key.input === 'g') return { ...s, scroll: 0 };
    if (key.input === 'G') return { ...s, scroll: Math.max(0, length - 1) };
    if (key.input === 'v' && s.view === 'audit') return { ...s, request: { method: 'audit.verify' } };
    if (key.input === 't' && s.view === 'policies') return { ...s, mode: 'path', input: '', pending: { action: 'policy-test', ids: [] } };
    if (key.input === 'i' && s.view === 'keys')
      return s.readOnly ? { ...s, flash: { text: 'read-only: your role cannot import keys', error: true } } : { ...s, mode: 'path', input: '', pending: { action: 'key-import', ids: [] } };
    if (key.input === 'e' && s.view === 'policies') return s.readOnly ? { ...s, flash: { text: 'read-only: your role cannot change the policy', error: true } } : { ...s, request: { method: 'policy.edit' } };
    return s;
  }
  if (s.view !== 'queue') return s;
  const last = Math.max(0, s.total - 1);
  const current = rowAt(s, s.cursor);
  if (key.input === '/') return { ...s, mode: 'filter', input: s.filter };
  if (key.input === 'j' || key.downArrow) return { ...s, cursor: Math.min(s.cursor + 1, last) };
  if (key.input === 'k' || key.upArrow) return { ...s, cursor: Math.max(0, s.cursor - 1) };
  if (key.input === 'g') return { ...s, cursor: 0 };
  if (key.input === 'G') return { ...s, cursor: last };
  if (key.input === 's') return { ...s, order: s.order === 'oldest' ? 'newest' : 'oldest', cursor: 0, flash: { text: `sorted ${s.order === 'oldest' ? 'newest' : 'oldest'} first`, error: false } };
  if (!current) return s;
  if (key.input === ' ') {
    const marked = s.marked.includes(current.id) ? s.marked.filter((m) => m !== current.id) : [...s.marked, current.id];
    return { ...s, marked, cursor: Math.min(s.cursor + 1, last) };
  }
  const targets = s.marked.length > 0 ? s.marked : [current.id];
  if (key.return) return { ...s, back: 'queue', view: 'message', arg: current.id, lines: [], scroll: 0 };
  const mutate = (f: () => State): State => (s.readOnly ? { ...s, flash: { text: 'read-only: your role cannot change the queue', error: true } } : f());
  if (key.input === 'h') return mutate(() => ({ ...s, mode: 'reason', input: '', pending: { action: 'hold', ids: targets } }));
  if (key.input === 'r') return mutate(() => ({ ...s, mode: 'reason', input: '', pending: { action: 'release', ids: targets } }));
  if (key.input === 'd') return mutate(() => ({ ...s, mode: 'reason', input: '', pending: { action: 'delete', ids: targets } }));
  if (key.input === 't') return mutate(() => ({ ...s, request: { method: 'queue.retry', ids: targets }, marked: [] }));
  return s;
}

export const HELP: Array<[string, string]> = [
  [':queue [state]', 'the delivery queue (states: queued, deferred, held, sent, bounced, portal)'],
  [':home (:health)', 'health and queue counts'],
  [':message ID, enter', 'one message: protection decision, rules, detectors, attempts'],
  [':audit', 'recent audit events; v verifies the chain'],
  [':keys', 'recipient keys (i imports an armored PGP key or PEM certificate from a file)'],
  [':policies', 'the active rules (e edits in $EDITOR: validated, diffed, replayed, activated on y; t tests an .eml)'],
  [':users :portal', 'console users; portal items and whether they were opened'],
  [':help or ?', 'this help'],
  ['/', 'filter the table (id, state, recipient)'],
  ['j / k, arrows, g / G', 'move in the table'],
  ['space', 'mark / unmark a message (h, r, t, d then act on all marked)'],
  ['s', 'sort oldest or newest first'],
  ['h', 'hold the selected message (reason optional)'],
  ['r', 'release it (reason required)'],
  ['t', 'retry it now'],
  ['d', 'delete it (reason required, then confirm with y)'],
  ['esc', 'back / cancel'],
  ['q', 'quit'],
];
