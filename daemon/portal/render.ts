// The message as the portal shows it: mailparser reads the sealed copy; the HTML part is
// cleaned by sanitize-html with an e-mail allow-list (no scripts, styles, forms, frames,
// base, meta or event handlers; links limited to http/https/mailto and opened with
// rel="noopener noreferrer"; images only from the message itself (cid:, data:), never
// remote) and then shown inside a sandboxed iframe under the page's CSP; text is escaped.
// Each MIME part is rendered on its own (parts.ts): every HTML part gets its own frame.
// Attachments are listed for download; inline (cid:) images are embedded.
// Inputs: message bytes, the item's link. Outputs: HTML fragments and attachment data.

import { simpleParser, type Attachment } from 'mailparser';
import sanitizeHtml from 'sanitize-html';
import { bodyParts } from './parts.js';

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface RenderedMessage {
  subject: string;
  from: string;
  date: string;
  /** The readable parts in order: sanitised HTML (a full document for an iframe's srcdoc) and/or escaped text. */
  parts: Array<{ html: string | null; text: string | null }>;
  attachments: Array<{ n: number; filename: string; size: number; contentType: string }>;
}

/** A filename safe to offer for download: no paths, no control characters, bounded. */
export function safeFilename(name: string | undefined, n: number): string {
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\x00-\x1f\x7f"*:<>?|]/g, '_').replace(/^\.+/, '').trim().slice(0, 120);
  return base || `attachment-${n}`;
}

const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/i;
const MAX_INLINE_IMAGE = 2 * 1024 * 1024;

export function sanitizeEmailHtml(html: string, attachments: Attachment[]): string {
  return sanitizeHtml(html, {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center'],
    allowedAttributes: {
      a: ['href', 'title', 'rel', 'target'],
      img: ['src', 'alt', 'width', 'height'],
      td: ['colspan', 'rowspan', 'align', 'valign'],
      th: ['colspan', 'rowspan', 'align', 'valign'],
      table: ['width', 'cellpadding', 'cellspacing'],
      font: ['color'],
      '*': ['dir', 'lang'],
    },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['cid', 'data'] },
    allowProtocolRelative: false,
    disallowedTagsMode: 'discard',
    transformTags: {
      a: (_tag, attribs) => {
        // absolute web and mail links only: a relative link would point into the portal itself
        const { href, ...rest } = attribs;
        const out: Record<string, string> = { ...rest, rel: 'noopener noreferrer', target: '_blank' };
        if (href && /^(https?:\/\/|mailto:)/i.test(href.trim())) out.href = href;
        return { tagName: 'a', attribs: out };
      },
      img: (_tag, attribs) => {
        const src = attribs.src ?? '';
        if (src.toLowerCase().startsWith('cid:')) {
          const cid = src.slice(4).replace(/^<|>$/g, '');
          const i = attachments.findIndex((a) => (a.contentId ?? '').replace(/^<|>$/g, '') === cid);
          // embedded as data: (the sandboxed frame has an opaque origin, so it sends no session cookie)
          const a = i >= 0 ? attachments[i]! : null;
          if (a && IMAGE_TYPES.test(a.contentType) && a.size <= MAX_INLINE_IMAGE) return { tagName: 'img', attribs: { ...attribs, src: `data:${a.contentType.toLowerCase()};base64,${a.content.toString('base64')}` } };
          return { tagName: 'span', attribs: {} };
        }
        // remote images (tracking pixels) and relative ones (into the portal) are dropped; only embedded ones stay
        if (!/^data:image\/(png|jpeg|gif|webp);base64,/i.test(src)) return { tagName: 'span', attribs: {} };
        return { tagName: 'img', attribs };
      },
    },
  });
}

const frameDocument = (html: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><base target="_blank"><style>body{font:15px/1.5 system-ui,sans-serif;margin:0.5rem;color:#111;word-wrap:break-word}img{max-width:100%;height:auto}</style></head><body>${html}</body></html>`;

export async function renderMessage(raw: Buffer): Promise<{ view: RenderedMessage; attachments: Attachment[] }> {
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, skipHtmlToText: true });
  const attachments = parsed.attachments;
  const parts = (await bodyParts(raw)).map((p) => ({
    html: p.html === null ? null : frameDocument(sanitizeEmailHtml(p.html, attachments)),
    text: p.text === null ? null : escapeHtml(p.text),
  }));
  return {
    view: {
      subject: parsed.subject ?? '(no subject)',
      from: parsed.from?.text ?? '',
      date: parsed.date ? parsed.date.toUTCString() : '',
      parts,
      attachments: attachments.map((a, i) => ({ n: i + 1, filename: safeFilename(a.filename, i + 1), size: a.size, contentType: a.contentType })),
    },
    attachments,
  };
}
