// PDFs for tests, written by pdfkit: one line of text per page, optionally encrypted.

import PDFDocument from 'pdfkit';

export function makePdf(pages: string[], opts: { userPassword?: string } = {}): Promise<Buffer> {
  const doc = new PDFDocument(opts.userPassword ? { userPassword: opts.userPassword, ownerPassword: `${opts.userPassword}-owner`, pdfVersion: '1.7' } : {});
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
  pages.forEach((text, i) => {
    if (i > 0) doc.addPage();
    doc.text(text);
  });
  doc.end();
  return done;
}
