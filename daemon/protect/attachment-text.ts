// Which attachments have text a library here can read, and the reader for each: PDF (pdf.js)
// and Word .docx (mammoth). Kinds are told by the bytes (PDF) or by the zip signature plus
// the declared type or file name (docx, a zip like any other office file).
// Inputs: an attachment's bytes, type and name. Outputs: its kind, or null; its text.

import { extractDocxText } from './docx-text.js';
import { extractPdfText } from './pdf-text.js';

export type TextKind = 'pdf' | 'docx';
export type AttachmentText = { text: string } | { unreadable: 'encrypted' | 'unreadable' };

const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

export function textKindOf(content: Buffer, contentType: string, filename: string | undefined): TextKind | null {
  // a PDF begins with "%PDF-" within its first KB (readers tolerate leading junk)
  if (content.subarray(0, 1024).includes('%PDF-')) return 'pdf';
  const zip = content.length > 4 && content.readUInt32LE(0) === 0x04034b50;
  if (zip && (contentType.toLowerCase() === DOCX_TYPE || /\.docx$/i.test(filename ?? ''))) return 'docx';
  return null;
}

export function extractText(kind: TextKind, bytes: Uint8Array, maxChars: number): Promise<AttachmentText> {
  return kind === 'pdf' ? extractPdfText(bytes, maxChars) : extractDocxText(bytes, maxChars);
}
