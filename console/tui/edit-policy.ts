// Editing the policy from the console, outside the full-screen app: the active rules go to
// a private temporary file, $EDITOR (or vi) edits them, the daemon validates the result and
// replays it over the last 30 days, `diff -u` shows the change, and only an explicit "y"
// activates it as a new version (audited with the user's name).
// Inputs: the terminal. Output: a line for the console's flash.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Method, ParamsOf, ResultOf } from '../../shared/api.js';
import type { PolicyRule } from '../../shared/domain.js';

interface Caller {
  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim().toLowerCase();
  } finally {
    rl.close();
  }
}

export async function editPolicy(c: Caller): Promise<string> {
  const current = await c.call('policy.list', {});
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-policy-'));
  const before = join(dir, `policy-v${current.version}.json`);
  const file = join(dir, 'policy.json');
  const text = `${JSON.stringify(current.rules, null, 2)}\n`;
  writeFileSync(before, text, { mode: 0o600 });
  writeFileSync(file, text, { mode: 0o600 });
  try {
    for (;;) {
      const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
      spawnSync('sh', ['-c', `${editor} "$1"`, 'sh', file], { stdio: 'inherit' });
      const edited = readFileSync(file, 'utf8');
      if (edited === text) return 'policy unchanged';
      let rules: PolicyRule[];
      try {
        rules = JSON.parse(edited) as PolicyRule[];
      } catch (err) {
        process.stdout.write(`\nnot valid JSON: ${(err as Error).message}\n`);
        if ((await ask('edit again? [Y/n] ')) === 'n') return 'policy edit abandoned';
        continue;
      }
      let impact;
      try {
        impact = await c.call('policy.replay', { rules, days: 30 }); // validates, and tells what would change
      } catch (err) {
        process.stdout.write(`\nthe daemon refused the rules: ${(err as Error).message}\n`);
        if ((await ask('edit again? [Y/n] ')) === 'n') return 'policy edit abandoned';
        continue;
      }
      let diff = '';
      try {
        execFileSync('diff', ['-u', before, file], { encoding: 'utf8' });
      } catch (err) {
        diff = String((err as { stdout?: string }).stdout ?? '');
      }
      process.stdout.write(`\n${diff}\nover the last 30 days: ${impact.messages} messages, ${impact.recipients} recipients; ${impact.changed} would change protection\n`);
      for (const [k, n] of Object.entries(impact.changes)) process.stdout.write(`  ${k}: ${n}\n`);
      if ((await ask(`activate as version ${current.version + 1}? [y/N] `)) !== 'y') return 'policy not activated';
      const set = await c.call('policy.set', { rules, comment: 'edited in the console' });
      return `policy version ${set.version} active`;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
