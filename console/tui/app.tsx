// The console's screen (Ink): a header with the appliance and crumbs, the current view
// (home: health and queue counts; queue: a table that renders only the rows that fit;
// help), a flash line and the key hints. It speaks only the typed control API, says when
// the daemon is unreachable, and reconnects by itself.

import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useReducer, useRef, useState } from 'react';
import type { HealthResult, QueueEntry, StatusResult } from '../../shared/domain.js';
import { helpLines, hintLine } from './keymap.js';
import { initialState, LIST_VIEWS, pageFor, reduce, rowAt, windowOf, type State, type View } from './state.js';

export interface ConsoleApi {
  status(): Promise<StatusResult>;
  health(): Promise<HealthResult>;
  queue(q: { state: string | null; text: string; order: 'oldest' | 'newest'; offset: number; limit: number }): Promise<{ total: number; offset: number; rows: QueueEntry[] }>;
  perform(request: NonNullable<State['request']>): Promise<string>;
  whoami(): Promise<{ user: string; role: string }>;
  /** The lines of a list view (:message, :audit, :keys, :policies, :users, :portal). */
  lines(view: View, arg: string | null): Promise<string[]>;
}

const POLL_MS = 2000;
const noColor = Boolean(process.env.NO_COLOR);
const color = (c: string) => (noColor ? undefined : c);

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line chart of per-minute counts. */
/** "42 s", "7 min", "3 h", "2 d": how long, for the home view. */
export function duration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
const ago = (iso: string) => duration(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)));

export function sparkline(values: number[]): string {
  const max = Math.max(...values, 1);
  return values.map((v) => (v === 0 ? ' ' : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1)))])).join('');
}

export function Home({ health, status }: { health: HealthResult | null; status: StatusResult | null }) {
  if (!health || !status) return <Text>loading…</Text>;
  const counts = Object.entries(health.queue).sort(([a], [b]) => a.localeCompare(b));
  const perMinute = health.delivered_per_minute;
  return (
    <Box flexDirection="column">
      {health.alerts.map((a) => (
        <Text key={a} color={color('yellow')} bold>
          ! {a}
        </Text>
      ))}
      <Text bold>Queue</Text>
      <Text>
        depth {status.queue.depth}
        {counts.length ? `   ${counts.map(([k, v]) => `${k} ${v}`).join('   ')}` : '   (empty)'}
      </Text>
      <Text>
        delivered/min (30 min) [{sparkline(perMinute)}] last {perMinute[perMinute.length - 1] ?? 0}, peak {Math.max(0, ...perMinute)}
      </Text>
      <Text> </Text>
      <Text bold>Health</Text>
      <Text>
        CPU {health.cpu_load_pct}%   memory {health.mem_used_pct}%   load {health.load_avg.map((l) => l.toFixed(2)).join(' ')}   uptime {Math.floor(health.uptime_s / 60)} min
      </Text>
      <Text>
        disk {health.disks.slice(0, 3).map((d) => `${d.mount} ${d.used_pct}%`).join('   ')}   data free {health.data_dir_free_bytes === null ? '?' : `${(health.data_dir_free_bytes / 1e9).toFixed(1)} GB`}
      </Text>
      <Text color={health.tls_days_left < 14 ? color('red') : undefined}>TLS certificate: {health.tls_days_left} days left</Text>
      <Text>
        last backup {health.last_backup_at ? `${ago(health.last_backup_at)} ago` : 'never'}   WAL checkpoint {health.checkpoint_age_s === null ? 'not yet' : `${duration(health.checkpoint_age_s)} ago`} (WAL {(health.wal_bytes / 1e6).toFixed(1)} MB)
      </Text>
      <Text> </Text>
      <Text bold>Listeners</Text>
      {status.listeners.map((l) => (
        <Text key={l.name}>
          {l.name.padEnd(16)} {l.address}
        </Text>
      ))}
    </Box>
  );
}

function QueueTable({ state, height }: { state: State; height: number }) {
  const { start, end } = windowOf(state.total, state.cursor, Math.max(1, height));
  const shown: Array<{ index: number; row: QueueEntry | undefined }> = [];
  for (let i = start; i < end; i++) shown.push({ index: i, row: rowAt(state, i) });
  return (
    <Box flexDirection="column">
      <Text bold>{` ${'ID'.padEnd(16)}${'STATE'.padEnd(10)}${'STREAM'.padEnd(15)}${'RECEIVED'.padEnd(22)}RECIPIENTS`}</Text>
      {state.total === 0 ? <Text>no messages{state.filter ? ` matching /${state.filter}` : ''}</Text> : null}
      {shown.map(({ index, row }) => (
        <Text key={index} inverse={index === state.cursor} color={row && state.marked.includes(row.id) ? color('magenta') : undefined}>
          {row && state.marked.includes(row.id) ? '*' : ' '}
          {row ? `${row.id.padEnd(16)}${row.state.padEnd(10)}${row.stream.padEnd(15)}${row.received_at.slice(0, 19).padEnd(22)}${row.recipients.join(', ')}` : '…'}
        </Text>
      ))}
      <Text dimColor>
        {state.total ? `${state.cursor + 1}/${state.total}` : ''}
        {state.filter ? `  filter /${state.filter}` : ''}
        {state.marked.length ? `  ${state.marked.length} marked` : ''}
        {state.order === 'newest' ? '  newest first' : ''}
      </Text>
    </Box>
  );
}

function Lines({ lines, scroll, height }: { lines: string[]; scroll: number; height: number }) {
  if (lines.length === 0) return <Text>loading…</Text>;
  return (
    <Box flexDirection="column">
      {lines.slice(scroll, scroll + height).map((l, i) => (
        <Text key={scroll + i} wrap="truncate-end">
          {l || ' '}
        </Text>
      ))}
    </Box>
  );
}

const PROMPTS: Record<string, string> = {
  'policy-test': 'file for the policy test (.eml)',
  'key-import': 'file for the key import',
  'user-add': 'new user: Unix name and role (admin, operator, auditor)',
  'user-remove': 'user to remove',
};

function hints(s: State): string {
  if (s.mode === 'command') return 'type a command (tab completes), enter runs, esc cancels';
  if (s.mode === 'filter') return 'type to filter, enter applies, esc cancels';
  if (s.mode === 'reason') return `reason for ${s.pending?.action ?? ''} ${s.pending?.ids.join(' ') ?? ''}: enter confirms, esc cancels`;
  if (s.mode === 'path') return `${PROMPTS[s.pending?.action ?? 'policy-test'] ?? ''}: enter runs, esc cancels`;
  if (s.mode === 'confirm') return s.pending?.action === 'user-remove' ? `remove user ${s.pending.ids[0] ?? ''}? y = remove, anything else = cancel (default)` : `delete ${s.pending?.ids.join(' ') ?? ''} for good? y = delete, anything else = cancel (default)`;
  return hintLine(s.view, s.readOnly);
}

export function App({ api, readOnly = false, onEditPolicy, flash }: { api: ConsoleApi; readOnly?: boolean; onEditPolicy?: () => void; flash?: string; view?: View }) {
  const [state, dispatch] = useReducer(reduce, undefined, () => ({ ...initialState(readOnly), ...(flash ? { flash: { text: flash, error: false } } : {}), ...(onEditPolicy && flash !== undefined ? { view: 'policies' as View } : {}) }));
  const [health, setHealth] = useState<HealthResult | null>(null);
  const [status, setStatus] = useState<StatusResult | null>(null);
  const [offline, setOffline] = useState<string | null>(null);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [rows, setRowsCount] = useState(stdout.rows ?? 24);
  const latest = useRef(state);
  latest.current = state;

  useEffect(() => {
    const onResize = () => setRowsCount(stdout.rows ?? 24);
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);

  useInput((input, key) => {
    // a paste or fast typing arrives as one chunk: feed it to the reducer key by key
    if (input.length > 1 && !key.ctrl && !key.meta) {
      for (const ch of input) dispatch({ type: 'key', key: ch === '\r' || ch === '\n' ? { input: '', return: true } : ch === '\x7f' ? { input: '', backspace: true } : { input: ch } });
      return;
    }
    dispatch({ type: 'key', key: { input: key.tab ? '\t' : input, escape: key.escape, return: key.return, upArrow: key.upArrow, downArrow: key.downArrow, backspace: key.backspace, delete: key.delete, ctrl: key.ctrl } });
  });

  useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);

  // poll what the current view shows
  useEffect(() => {
    let stopped = false;
    const tick = async () => {
      try {
        const s = latest.current;
        if (s.view === 'queue') dispatch({ type: 'rows', ...(await api.queue({ state: s.stateFilter, text: s.filter, order: s.order, ...pageFor(s.cursor) })) });
        else if (LIST_VIEWS.includes(s.view)) dispatch({ type: 'lines', lines: await api.lines(s.view, s.arg) });
        else {
          const [st, h] = await Promise.all([api.status(), api.health()]);
          setStatus(st);
          setHealth(h);
        }
        setOffline(null);
      } catch (err) {
        setOffline((err as Error).message);
      }
      if (!stopped) timer = setTimeout(() => void tick(), POLL_MS);
    };
    let timer = setTimeout(() => void tick(), 0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, state.view, state.stateFilter, state.arg, state.filter, state.order, pageFor(state.cursor).offset]);

  // perform requested actions
  useEffect(() => {
    const request = state.request;
    if (!request) return;
    dispatch({ type: 'requested' });
    if (request.method === 'policy.edit') {
      // the editor needs the whole terminal: the runner leaves the app, edits, and comes back
      if (onEditPolicy) onEditPolicy();
      else dispatch({ type: 'failed', text: 'editing needs a terminal' });
      return;
    }
    api.perform(request).then(
      async (text) => {
        dispatch({ type: 'result', text });
        if (LIST_VIEWS.includes(latest.current.view)) dispatch({ type: 'lines', lines: await api.lines(latest.current.view, latest.current.arg) });
        const now = latest.current;
        if (now.view === 'queue') dispatch({ type: 'rows', ...(await api.queue({ state: now.stateFilter, text: now.filter, order: now.order, ...pageFor(now.cursor) })) });
      },
      (err: Error) => dispatch({ type: 'failed', text: err.message }),
    );
  }, [api, state.request, onEditPolicy]);

  const crumbs = ['sealpost', ...(state.view === 'message' ? [state.back, `message(${state.arg ?? ''})`] : [state.view === 'queue' && state.stateFilter ? `queue(${state.stateFilter})` : state.view])].join(' > ');
  const bodyHeight = Math.max(3, rows - 7);
  useEffect(() => dispatch({ type: 'resize', listHeight: bodyHeight }), [bodyHeight]);
  return (
    <Box flexDirection="column" height={rows}>
      <Box justifyContent="space-between">
        <Text bold color={color('cyan')}>
          {health ? `${health.name} ${health.version}` : 'Sealpost'}
        </Text>
        <Text>{crumbs}</Text>
      </Box>
      {offline ? <Text color={color('red')}>daemon unreachable: {offline} (retrying)</Text> : <Text> </Text>}
      <Box flexDirection="column" flexGrow={1}>
        {state.view === 'home' ? (
          <Home health={health} status={status} />
        ) : state.view === 'queue' ? (
          <QueueTable state={state} height={bodyHeight - 2} />
        ) : state.view === 'help' ? (
          <Lines lines={helpLines()} scroll={state.scroll} height={bodyHeight} />
        ) : (
          <Lines lines={state.lines} scroll={state.scroll} height={bodyHeight} />
        )}
      </Box>
      <Text color={state.flash?.error ? color('red') : color('green')}>{state.flash?.text ?? ' '}</Text>
      {state.mode === 'command' ? <Text>:{state.input}</Text> : state.mode === 'filter' ? <Text>/{state.input}</Text> : state.mode === 'reason' ? <Text>reason: {state.input}</Text> : state.mode === 'path' ? <Text>file: {state.input}</Text> : <Text> </Text>}
      <Text dimColor>{hints(state)}</Text>
    </Box>
  );
}
