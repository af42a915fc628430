// The console's reducer: navigation, command mode with completion, filtering, the table
// window, key dispatch for hold/release/delete with reasons and confirmation, read-only;
// the key map: no conflicts, every binding in the generated help and hint line.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { QueueEntry } from '../../shared/domain.js';
import { BINDINGS, bindingFor, COMMAND_HELP, helpLines, hintLine } from '../../console/tui/keymap.js';
import { complete, initialState, pageFor, reduce, rowAt, windowOf, type Key, type State } from '../../console/tui/state.js';

const row = (id: string, state: QueueEntry['state'], rcpt: string): QueueEntry => ({ id, state, stream: 'transactional', app: 'ehr', sender: 's@clinic.test', received_at: '2026-12-03T10:00:00.000Z', size: 1, recipients: [rcpt] }) as QueueEntry;
const press = (s: State, ...keys: Array<string | Key>): State =>
  keys.reduce<State>((acc, k) => reduce(acc, { type: 'key', key: typeof k === 'string' ? { input: k } : k }), s);
const typed = (s: State, text: string) => press(s, ...text.split(''));
const ENTER: Key = { input: '', return: true };
const ESC: Key = { input: '', escape: true };

describe('console state', () => {
  const rows = [row('AAA', 'deferred', 'a@x.test'), row('BBB', 'held', 'b@y.test'), row('CCC', 'queued', 'c@x.test')];
  const onQueue = () => reduce(press(typed(press(initialState(), ':'), 'queue'), ENTER), { type: 'rows', rows });

  it('runs commands, with completion and state arguments', () => {
    assert.equal(complete('que'), 'queue');
    assert.equal(complete('h'), 'h', 'ambiguous: home, help');
    const s = press(typed(press(initialState(), ':'), 'queue deferred'), ENTER);
    assert.equal(s.view, 'queue');
    assert.equal(s.stateFilter, 'deferred');
    const bad = press(typed(press(initialState(), ':'), 'nonsense'), ENTER);
    assert.match(bad.flash?.text ?? '', /unknown command/);
    const tab = press(typed(press(initialState(), ':'), 'que'), { input: '\t' });
    assert.equal(tab.input, 'queue');
  });

  it('moves the cursor within the rows and filters them', () => {
    let s = onQueue();
    s = press(s, 'j', 'j', 'j');
    assert.equal(s.cursor, 2, 'stops at the last row');
    s = press(s, 'g');
    assert.equal(s.cursor, 0);
    s = press(typed(press(s, '/'), 'x.test'), ENTER);
    assert.equal(s.filter, 'x.test', 'the daemon filters (queue.page text)');
    assert.equal(s.cursor, 0);
    s = press(s, ESC);
    assert.equal(s.filter, '');
  });

  it('moves over a 100,000-message queue with only a page loaded', () => {
    let s = reduce(onQueue(), { type: 'rows', rows: [row('P250', 'queued', 'p@x.test')], total: 100_000, offset: 250 });
    s = press(s, 'G');
    assert.equal(s.cursor, 99_999);
    assert.equal(rowAt(s, 99_999), undefined, 'not loaded yet: the app fetches pageFor(cursor)');
    assert.deepEqual(pageFor(99_999), { offset: 99_500, limit: 750 });
    assert.deepEqual(pageFor(10), { offset: 0, limit: 750 });
    s = press(s, 'g');
    assert.equal(rowAt({ ...s, cursor: 250 }, 250)?.id, 'P250');
  });

  it('renders only a window of a long table around the cursor', () => {
    assert.deepEqual(windowOf(100_000, 0, 20), { start: 0, end: 20 });
    assert.deepEqual(windowOf(100_000, 50_000, 20), { start: 49_990, end: 50_010 });
    assert.deepEqual(windowOf(100_000, 99_999, 20), { start: 99_980, end: 100_000 });
    assert.deepEqual(windowOf(5, 3, 20), { start: 0, end: 5 });
  });

  it('asks a reason for release (at least 3 characters) and requests it', () => {
    let s = press(onQueue(), 'j', 'r');
    assert.equal(s.mode, 'reason');
    s = press(typed(s, 'ok'), ENTER);
    assert.equal(s.request, null);
    assert.match(s.flash?.text ?? '', /at least 3/);
    s = press(typed(s, ' then'), ENTER);
    assert.deepEqual(s.request, { method: 'queue.release', ids: ['BBB'], reason: 'ok then' });
  });

  it('deletes only after a reason and an explicit y; anything else cancels', () => {
    let s = press(typed(press(onQueue(), 'd'), 'duplicate'), ENTER);
    assert.equal(s.mode, 'confirm');
    const cancelled = press(s, ENTER);
    assert.equal(cancelled.request, null);
    assert.equal(cancelled.pending, null);
    s = press(s, 'y');
    assert.deepEqual(s.request, { method: 'queue.delete', ids: ['AAA'], reason: 'duplicate' });
  });

  it('is read-only for auditors; ? opens help and esc returns; q quits', () => {
    const ro = reduce(press(typed(press(initialState(true), ':'), 'queue'), ENTER), { type: 'rows', rows });
    const tried = press(ro, 'h');
    assert.equal(tried.mode, 'normal');
    assert.match(tried.flash?.text ?? '', /read-only/);
    const help = press(ro, '?');
    assert.equal(help.view, 'help');
    assert.equal(press(help, ESC).view, 'queue');
    assert.equal(press(ro, 'q').quit, true);
  });

  it('asks for a file to import a key or test an .eml, and requests it', () => {
    const keysView = press(typed(press(initialState(), ':'), 'keys'), ENTER);
    const imp = press(typed(press(keysView, 'i'), '/tmp/pat.asc'), ENTER);
    assert.deepEqual(imp.request, { method: 'keys.import', path: '/tmp/pat.asc' });
    const policies = press(typed(press(initialState(), ':'), 'policies'), ENTER);
    const test = press(typed(press(policies, 't'), '/tmp/m.eml'), ENTER);
    assert.deepEqual(test.request, { method: 'policy.test', path: '/tmp/m.eml' });
    const cancelled = press(press(policies, 't'), ESC);
    assert.equal(cancelled.mode, 'normal');
    assert.equal(press(press(typed(press(initialState(true), ':'), 'keys'), ENTER), 'i').mode, 'normal', 'auditors cannot import');
  });

  it('marks messages with space and acts on all of them; s flips the order', () => {
    let s = press(onQueue(), ' ', ' ');
    assert.deepEqual(s.marked, ['AAA', 'BBB']);
    assert.equal(s.cursor, 2);
    s = press(s, 't');
    assert.deepEqual(s.request, { method: 'queue.retry', ids: ['AAA', 'BBB'] });
    assert.deepEqual(s.marked, []);
    const unmarked = press(press(onQueue(), ' ', 'k'), ' ');
    assert.deepEqual(unmarked.marked, []);
    assert.equal(press(onQueue(), 's').order, 'newest');
  });
});

describe('console key map', () => {
  it('has no two bindings for one key in one place, and documents every binding in the generated help', () => {
    const seen = new Set<string>();
    for (const b of BINDINGS) {
      for (const k of b.keys) {
        const where = `${String(b.scope)}:${k}`;
        assert.ok(!seen.has(where), `${k} is bound twice in ${String(b.scope)}`);
        seen.add(where);
      }
    }
    const help = helpLines().join('\n');
    for (const b of BINDINGS) assert.ok(help.includes(b.does), `the help lists "${b.does}"`);
    for (const [cmd] of COMMAND_HELP) assert.ok(help.includes(cmd));
    assert.match(help, /In :queue\n/);
  });

  it('generates the hint line per view, without changes in a read-only console', () => {
    assert.match(hintLine('queue', false), /<j\/k> move .*<h> hold .*<d> delete .*<:> command {2}<\?> help {2}<q> quit {2}<esc> back/);
    const ro = hintLine('queue', true);
    assert.doesNotMatch(ro, /hold|release|retry|delete/);
    assert.match(ro, /<\/> filter.*\(read-only\)$/);
    assert.match(hintLine('policies', false), /<j\/k> scroll {2}<e> edit in \$EDITOR {2}<t> test an \.eml/);
    assert.doesNotMatch(hintLine('home', false), /back/);
  });

  it('dispatches a key to the current view first: t tests an .eml in :policies, retries in :queue', () => {
    assert.equal(bindingFor('t', 'policies')?.does, 'test an .eml file against the rules (nothing is sent)');
    assert.equal(bindingFor('t', 'queue')?.does, 'retry now');
    assert.equal(bindingFor('j', 'audit')?.scope, 'lists');
    assert.equal(bindingFor('v', 'queue'), undefined);
  });
});

describe('console list scrolling', () => {
  it('G and j stop at a full last page of the reported height', () => {
    const s0 = reduce(reduce(press(typed(press(initialState(), ':'), 'audit'), ENTER), { type: 'resize', listHeight: 10 }), { type: 'lines', lines: Array.from({ length: 25 }, (_, i) => `line ${i}`) });
    assert.equal(press(s0, 'G').scroll, 15);
    assert.equal(press(s0, 'G', 'j').scroll, 15);
    assert.equal(press(s0, 'G', 'k').scroll, 14);
    const short = reduce(s0, { type: 'lines', lines: ['only'] });
    assert.equal(press(short, 'G').scroll, 0);
  });
});

describe('console users', () => {
  const onUsers = (ro = false) => press(typed(press(initialState(ro), ':'), 'users'), ENTER);

  it('adds a user with a role, refusing a malformed line', () => {
    const bad = press(typed(press(onUsers(), 'a'), 'alice superuser'), ENTER);
    assert.equal(bad.mode, 'path', 'the prompt stays open');
    assert.match(bad.flash?.text ?? '', /a role \(auditor, operator, admin\)/);
    const added = press(typed(press(onUsers(), 'a'), 'alice auditor'), ENTER);
    assert.deepEqual(added.request, { method: 'user.add', name: 'alice', role: 'auditor' });
  });

  it('removes a user only after y; anything else cancels; auditors cannot', () => {
    const asked = press(typed(press(onUsers(), 'd'), 'alice'), ENTER);
    assert.equal(asked.mode, 'confirm');
    assert.equal(press(asked, 'n').request, null);
    assert.deepEqual(press(asked, 'y').request, { method: 'user.remove', name: 'alice' });
    assert.match(press(onUsers(true), 'a').flash?.text ?? '', /read-only: your role cannot change users/);
  });
});
