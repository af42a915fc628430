// End-to-end encryption of a whole message for one recipient: PGP/MIME (RFC 3156, openpgp)
// and S/MIME enveloped data (RFC 8551: CMS EnvelopedData built by pkijs, AES-256-CBC
// content encryption, RSA-OAEP key transport, which `openssl cms` and current clients
// decrypt). The inner entity is the original MIME body with its Content-* headers; the
// outer message keeps the routing headers (From, To, Subject, Date, Message-ID...), which
// is why PHI in a Subject is refused at intake. MIME trees are built by nodemailer's
// MimeNode and headers handled by mailsplit, never by hand.
// Inputs: the outgoing message, the recipient's key. Output: the encrypted message.

import { Headers } from 'mailsplit';
import MimeNode from 'nodemailer/lib/mime-node';
import { webcrypto } from 'node:crypto';
import * as openpgp from 'openpgp';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { splitMessage } from '../intake/message.js';

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never }));

const CONTENT_HEADERS = ['content-type', 'content-transfer-encoding', 'content-disposition', 'content-id', 'content-description', 'content-language'];

/** Splits a message into its outer (routing) headers and the inner MIME entity. */
export function innerEntity(message: Buffer): { outer: Headers; inner: Buffer } {
  const { header, body } = splitMessage(message);
  const outer = new Headers(header);
  const innerHeaders = new Headers('');
  for (const name of CONTENT_HEADERS) {
    for (const line of outer.get(name)) innerHeaders.addFormatted(name, line);
    outer.remove(name);
  }
  outer.remove('mime-version');
  if (!innerHeaders.hasHeader('content-type')) innerHeaders.add('Content-Type', 'text/plain; charset=us-ascii');
  return { outer, inner: Buffer.concat([innerHeaders.build(), body]) };
}

/** The outer headers plus a MIME tree's own Content-* headers and body. */
async function assemble(outer: Headers, root: MimeNode): Promise<Buffer> {
  const built = (await root.build()) as Buffer;
  const { header, body } = splitMessage(built);
  const own = new Headers(header);
  outer.add('MIME-Version', '1.0');
  for (const name of ['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description']) {
    for (const line of own.get(name)) outer.addFormatted(name, line);
  }
  return Buffer.concat([outer.build(), body]);
}

export async function pgpMime(message: Buffer, key: openpgp.Key): Promise<Buffer> {
  const { outer, inner } = innerEntity(message);
  const armored = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: inner, format: 'binary' }), encryptionKeys: key, format: 'armored' });
  const root = new MimeNode('multipart/encrypted; protocol="application/pgp-encrypted"');
  const version = root.createChild('application/pgp-encrypted');
  version.setHeader('Content-Description', 'PGP/MIME version identification');
  version.setHeader('Content-Transfer-Encoding', '7bit');
  version.setContent('Version: 1\r\n');
  const data = root.createChild('application/octet-stream; name="encrypted.asc"');
  data.setHeader('Content-Description', 'OpenPGP encrypted message');
  data.setHeader('Content-Disposition', 'inline; filename="encrypted.asc"');
  data.setHeader('Content-Transfer-Encoding', '7bit');
  data.setContent(armored.replace(/\r?\n/g, '\r\n'));
  return assemble(outer, root);
}

const parsedCerts = new Map<string, pkijs.Certificate>();

function certificate(pem: string): pkijs.Certificate {
  let cert = parsedCerts.get(pem);
  if (!cert) {
    const der = Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''), 'base64');
    cert = new pkijs.Certificate({ schema: asn1js.fromBER(new Uint8Array(der).buffer).result });
    if (parsedCerts.size > 1000) parsedCerts.clear();
    parsedCerts.set(pem, cert);
  }
  return cert;
}

export async function smimeEnvelope(message: Buffer, certPem: string): Promise<Buffer> {
  const { outer, inner } = innerEntity(message);
  const cert = certificate(certPem);
  const enveloped = new pkijs.EnvelopedData();
  enveloped.addRecipientByCertificate(cert, { oaepHashAlgorithm: 'SHA-256' }, 1);
  await enveloped.encrypt({ name: 'AES-CBC', length: 256 } as never, new Uint8Array(inner).buffer);
  const content = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.ENVELOPED_DATA, content: enveloped.toSchema() });
  const p7m = Buffer.from(content.toSchema().toBER(false));
  const root = new MimeNode('application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"');
  root.setHeader('Content-Disposition', 'attachment; filename="smime.p7m"');
  root.setHeader('Content-Description', 'S/MIME Encrypted Message');
  root.setHeader('Content-Transfer-Encoding', 'base64');
  root.setContent(p7m);
  return assemble(outer, root);
}
