// The text of a Word (.docx) attachment, for the DLP detectors: mammoth reads the document's
// XML out of the zip and returns its raw text. Like PDFs, this runs in a worker thread with a
// heap cap and the scan's time budget, so a zip bomb fails that thread, not the daemon.
// Inputs: docx bytes. Outputs: text, or why there is none.

import mammoth from 'mammoth';
import type { AttachmentText } from './attachment-text.js';

export async function extractDocxText(docx: Uint8Array, maxChars: number): Promise<AttachmentText> {
  try {
    const { value } = await mammoth.extractRawText({ buffer: Buffer.from(docx.buffer, docx.byteOffset, docx.byteLength) });
    return { text: value.slice(0, maxChars) };
  } catch {
    return { unreadable: 'unreadable' };
  }
}
