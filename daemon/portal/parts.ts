// The readable parts of a message, each on its own, in order: mailsplit walks the MIME tree
// and each text/plain or text/html leaf is decoded by mailparser as a message of its own
// (transfer encoding, charset, format=flowed), so one part's markup can never run into the
// next. Of a multipart/alternative, the richest alternative is shown (the last with HTML,
// RFC 2046 5.1.4), its plain-text sibling kept beside it. Attachments, and everything inside
// a forwarded message/rfc822, are not parts here: they are downloads.
// Inputs: message bytes. Outputs: [{ html, text }] in message order.

import { Splitter, type MimeNode, type SplitterChunk } from 'mailsplit';
import { simpleParser } from 'mailparser';

export interface BodyPart {
  /** Raw (unsanitised) HTML of the part, or null. */
  html: string | null;
  /** The plain text of the part (or of its text alternative), or null. */
  text: string | null;
}

interface Leaf {
  node: MimeNode;
  body: Buffer[];
}

const MAX_PARTS = 50;

function isInline(node: MimeNode): boolean {
  return (node.contentType === 'text/plain' || node.contentType === 'text/html') && node.disposition !== 'attachment';
}

/** The nearest multipart/alternative above `node` and the child of it that holds `node`. */
function alternativeOf(node: MimeNode): { group: MimeNode; branch: MimeNode } | null {
  let branch = node;
  for (let p = node.parentNode; p; branch = p, p = p.parentNode) {
    if (p.multipart === 'alternative') return { group: p, branch };
  }
  return null;
}

function insideRfc822(node: MimeNode): boolean {
  for (let p = node.parentNode; p; p = p.parentNode) if (p.contentType === 'message/rfc822') return true;
  return false;
}

async function decode(leaf: Leaf): Promise<string> {
  const parsed = await simpleParser(Buffer.concat([leaf.node.getHeaders(), ...leaf.body]), { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, skipHtmlToText: true });
  return leaf.node.contentType === 'text/html' ? (typeof parsed.html === 'string' ? parsed.html : '') : (parsed.text ?? '');
}

async function leaves(raw: Buffer): Promise<Leaf[]> {
  const out: Leaf[] = [];
  let current: Leaf | null = null;
  const splitter = new Splitter({ ignoreEmbedded: true });
  await new Promise<void>((resolve, reject) => {
    splitter.on('data', (chunk: SplitterChunk) => {
      if (chunk.type === 'node') {
        current = !chunk.multipart && isInline(chunk) && !insideRfc822(chunk) && out.length < MAX_PARTS ? { node: chunk, body: [] } : null;
        if (current) out.push(current);
      } else if (chunk.type === 'body' && current) {
        current.body.push(chunk.value);
      }
    });
    splitter.on('end', resolve);
    splitter.on('error', reject);
    splitter.end(raw);
  });
  return out;
}

export async function bodyParts(raw: Buffer): Promise<BodyPart[]> {
  const all = await leaves(raw);
  const parts: BodyPart[] = [];
  const groups = new Map<MimeNode, BodyPart>();
  for (const leaf of all) {
    const content = await decode(leaf);
    const html = leaf.node.contentType === 'text/html';
    const alt = alternativeOf(leaf.node);
    if (!alt) {
      parts.push(html ? { html: content, text: null } : { html: null, text: content });
      continue;
    }
    // one shown part per alternative group, at the place of its first alternative
    let part = groups.get(alt.group);
    if (!part) {
      part = { html: null, text: null };
      groups.set(alt.group, part);
      parts.push(part);
    }
    if (html) part.html = content; // a later HTML alternative is the richer one
    else if (part.text === null) part.text = content;
  }
  return parts.filter((p) => (p.html ?? '').trim() || (p.text ?? '').trim());
}
