// Portal housekeeping, once a minute: items past their expiry are shredded (their sealed
// copy and token destroyed, the link answers 410), and unopened items older than
// `portal.reminder_days` get one reminder notice.
// Inputs: the clock. Side effects: shredding, queued reminders, audit.

import type { Log } from '../log.js';
import type { PortalItems } from '../protect/portal-items.js';
import type { GroupCommitter } from '../store/committer.js';
import type { PortalMailer } from './mailer.js';

export class PortalHousekeeping {
  private running = false;

  constructor(private readonly deps: { items: PortalItems; committer: GroupCommitter; mailer: PortalMailer; log: Log; publicUrl: string; reminderDays: number }) {}

  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const expired = await this.deps.committer.submit((ctx) => this.deps.items.expire(ctx));
      if (expired.length > 0) this.deps.log.info({ expired: expired.length }, 'portal items expired and shredded');
      // the sender learns that a message was never read (no content: who, when)
      for (const item of expired) {
        if (item.opened_at === null && item.sender_address) await this.deps.mailer.sendNeverOpened(item.sender_address, item.address, item.message_id, item.created_at);
      }
      if (this.deps.reminderDays > 0) {
        for (const item of this.deps.items.dueForReminder(this.deps.reminderDays)) {
          const token = this.deps.items.token(item);
          if (!token) continue;
          await this.deps.mailer.sendReminder(item.address, item.sender_name, `${this.deps.publicUrl.replace(/\/$/, '')}/m/${token}`, item.expires_at);
          await this.deps.committer.submit((ctx) => this.deps.items.markReminded(item.id, ctx));
        }
      }
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'portal housekeeping failed');
    } finally {
      this.running = false;
    }
  }
}
