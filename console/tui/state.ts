// The console's state machine: a pure reducer from (state, event) to state, so navigation,
// the table cursor, filtering, command mode and the reason prompt are unit-tested without a
// terminal. Side effects (control API calls) are requested through `state.request` and
// performed by the app, which reports back with `result` / `failed` events.
// Keys follow k9s: ":" commands, "/" filter, j/k or arrows, "?" help, esc back, q quit.

import { ROLES, type QueueEntry, type Role } from '../../shared/domain.js';
import { dispatch, helpLines, LIST_VIEWS, type Key } from './keymap.js';

export { LIST_VIEWS, type Key };

export type View = 'home' | 'queue' | 'help' | 'message' | 'audit' | 'keys' | 'policies' | 'users' | 'portal';

export type Request =
  | { method: 'queue.hold'; ids: string[]; reason: string }
  | { method: 'queue.release'; ids: string[]; reason: string }
  | { method: 'queue.retry'; ids: string[] }
  | { method: 'queue.delete'; ids: string[]; reason: string }
  | { method: 'audit.verify' }
  | { method: 'policy.edit' }
  | { method: 'policy.test'; path: string }
  | { method: 'keys.import'; path: string }
  | { method: 'user.add'; name: string; role: Role }
  | { method: 'user.remove'; name: string };

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
  /** How many lines of a list fit on the screen (the app reports it): scrolling stops at a full last page. */
  listHeight: number;
  /** An action waiting for its reason (and, for delete, a confirmation). */
  pending: { action: 'hold' | 'release' | 'delete' | 'policy-test' | 'key-import' | 'user-add' | 'user-remove'; ids: string[]; reason?: string } | null;
  /** Messages marked with space: actions apply to all of them. */
  marked: string[];
  /** Queue order: oldest first (default) or newest first. */
  order: 'oldest' | 'newest';
  request: Request | null;
  flash: { text: string; error: boolean } | null;
  quit: boolean;
  readOnly: boolean;
}

export type Event = { type: 'key'; key: Key } | { type: 'rows'; rows: QueueEntry[]; total?: number; offset?: number } | { type: 'lines'; lines: string[] } | { type: 'result'; text: string } | { type: 'failed'; text: string } | { type: 'requested' } | { type: 'resize'; listHeight: number };

export const COMMANDS = ['home', 'health', 'queue', 'message', 'audit', 'keys', 'policies', 'users', 'portal', 'help', 'quit'] as const;

export function initialState(readOnly = false): State {
  return { view: 'home', back: 'home', mode: 'normal', input: '', filter: '', stateFilter: null, rows: [], total: 0, offset: 0, cursor: 0, marked: [], order: 'oldest', arg: null, lines: [], scroll: 0, listHeight: 20, pending: null, request: null, flash: null, quit: false, readOnly };
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
      return { ...s, lines: e.lines, scroll: Math.min(s.scroll, Math.max(0, e.lines.length - s.listHeight)) };
    case 'rows': {
      const total = e.total ?? e.rows.length;
      return { ...s, rows: e.rows, total, offset: e.offset ?? 0, cursor: Math.min(s.cursor, Math.max(0, total - 1)) };
    }
    case 'requested':
      return { ...s, request: null };
    case 'resize':
      return { ...s, listHeight: Math.max(1, e.listHeight) };
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
      const text = s.input.trim();
      if (!text || !s.pending) return { ...s, mode: 'normal', input: '', pending: null };
      if (s.pending.action === 'user-add') {
        const [name, role, extra] = text.split(/\s+/);
        if (!name || !role || extra !== undefined || !ROLES.includes(role as Role)) return { ...s, flash: { text: `type a Unix user name and a role (${ROLES.join(', ')}), e.g. "alice auditor"`, error: true } };
        return { ...s, mode: 'normal', input: '', pending: null, request: { method: 'user.add', name, role: role as Role } };
      }
      // removing a user is confirmed like a delete (cancel is the default)
      if (s.pending.action === 'user-remove') return { ...s, mode: 'confirm', input: '', pending: { ...s.pending, ids: [text] } };
      const request: Request = s.pending.action === 'policy-test' ? { method: 'policy.test', path: text } : { method: 'keys.import', path: text };
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
    if (key.input === 'y' && s.pending?.action === 'user-remove') return { ...s, mode: 'normal', request: { method: 'user.remove', name: s.pending.ids[0] ?? '' }, pending: null };
    return { ...s, mode: 'normal', pending: null, flash: { text: 'cancelled', error: false } };
  }
  // normal mode: the key map (keymap.ts) says what each key does where
  const current = s.view === 'queue' ? (rowAt(s, s.cursor)?.id ?? null) : null;
  return dispatch(s, key, {
    current,
    targets: s.marked.length > 0 ? s.marked : current ? [current] : [],
    length: s.view === 'help' ? helpLines().length : s.lines.length,
    command: runCommand,
  });
}
