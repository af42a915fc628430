// The portal's HTTPS server (fastify): the notice links resolve here. Security headers on
// every answer (helmet: a strict CSP, HSTS, nosniff, no referrer; no caching). Unknown,
// expired and recalled items answer alike to the outside (same page, 404/410), so a token
// cannot be probed for more than "not available". Reading a message (one-time code, the
// sanitised view, attachments, replies) is the portal issue's; this serves the landing page.
// Inputs: HTTPS requests. Outputs: pages. Side effects: audit of views.

import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/loader.js';
import type { Log } from '../log.js';
import type { PortalItems } from '../protect/portal-items.js';
import type { GroupCommitter } from '../store/committer.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#111;background:#fff}h1{font-size:1.4rem}</style></head>
<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

/** p***@example.org: enough for the recipient to recognise, not enough to harvest. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, 1)}***${address.slice(at)}`;
}

export class PortalServer {
  private app: FastifyInstance | null = null;
  address = '';

  constructor(private readonly deps: { listen: string; tls: { key: string; cert: string }; items: PortalItems; committer: GroupCommitter; log: Log; practiceName: string }) {}

  async start(): Promise<void> {
    const app = (this.app = Fastify({ https: { key: this.deps.tls.key, cert: this.deps.tls.cert, minVersion: 'TLSv1.2' }, logger: false, bodyLimit: 1024 * 1024 }));
    await app.register(helmet, {
      contentSecurityPolicy: { directives: { defaultSrc: ["'self'"], objectSrc: ["'none'"], baseUri: ["'none'"], frameAncestors: ["'none'"], styleSrc: ["'unsafe-inline'"], formAction: ["'self'"] } },
      hsts: { maxAge: 31_536_000, includeSubDomains: true },
      referrerPolicy: { policy: 'no-referrer' },
    });
    app.addHook('onSend', async (_req, reply) => {
      reply.header('Cache-Control', 'no-store');
    });
    const unavailable = () => page('This message is not available', '<p>The link is not valid, or the message has expired or was withdrawn by the sender. Please contact the sender if you need it.</p>');
    app.get<{ Params: { token: string } }>('/m/:token', async (req, reply) => {
      const item = this.deps.items.byToken(req.params.token);
      if (!item) return reply.code(404).type('text/html; charset=utf-8').send(unavailable());
      if (item.state !== 'active' || item.expires_at <= Date.now()) return reply.code(410).type('text/html; charset=utf-8').send(unavailable());
      await this.deps.committer.audit({ actor: 'portal', action: 'portal.link_opened', subject: item.message_id, detail: { item: item.id, ip: req.ip } });
      return reply
        .type('text/html; charset=utf-8')
        .send(
          page(
            `Secure message from ${item.sender_name}`,
            `<p>${escapeHtml(item.sender_name)} sent a secure message through ${escapeHtml(this.deps.practiceName)} to ${escapeHtml(maskAddress(item.address))}.</p>
<p>To protect your privacy, the message is shown only after we confirm that this e-mail address is yours with a one-time code. It can be read until ${escapeHtml(new Date(item.expires_at).toUTCString())}.</p>`,
          ),
        );
    });
    app.setNotFoundHandler((_req, reply) => reply.code(404).type('text/html; charset=utf-8').send(unavailable()));
    const { host, port } = splitHostPort(this.deps.listen);
    await app.listen({ host, port });
    const a = app.server.address() as AddressInfo;
    this.address = `${a.address}:${a.port}`;
  }

  async stop(): Promise<void> {
    await this.app?.close();
  }
}
