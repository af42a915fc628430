// End-to-end encryption of a whole message for one recipient: PGP/MIME (RFC 3156, openpgp)
// and S/MIME enveloped data (RFC 8551: CMS EnvelopedData, AES-256-CBC content encryption,
// RSA key transport). The key transport is RSA PKCS #1 v1.5 by default: RFC 8551 makes it
// the one every receiving agent MUST decrypt (Outlook, Apple Mail, Thunderbird, openssl cms);
// RSAES-OAEP (SHA-256) is offered with `keys.smime_key_transport = "rsa-oaep"`. pkijs builds
// the CMS structures (and the whole OAEP envelope through WebCrypto); the v1.5 envelope's
// primitives are Node's (createCipheriv, publicEncrypt), since WebCrypto has no v1.5
// encryption. The inner entity is the original MIME body with its Content-* headers; the
// outer message keeps the routing headers (From, To, Subject, Date, Message-ID...), which
// is why PHI in a Subject is refused at intake. MIME trees are built by nodemailer's
// MimeNode and headers handled by mailsplit, never by hand.
// Inputs: the outgoing message, the recipient's key. Output: the encrypted message.

import { Headers } from 'mailsplit';
import MimeNode from 'nodemailer/lib/mime-node';
import { constants, createCipheriv, publicEncrypt, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
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

/** PGP/MIME to `key`; signed inside the encryption (RFC 3156 section 6.2) when `signingKey` is given. */
export async function pgpMime(message: Buffer, key: openpgp.Key, signingKey?: openpgp.PrivateKey | null): Promise<Buffer> {
  const { outer, inner } = innerEntity(message);
  const armored = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: inner, format: 'binary' }), encryptionKeys: key, ...(signingKey ? { signingKeys: signingKey } : {}), format: 'armored' });
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

export type SmimeKeyTransport = 'rsa-pkcs1' | 'rsa-oaep';

const OID = {
  data: '1.2.840.113549.1.7.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
};

/** EnvelopedData for one RSA recipient with PKCS #1 v1.5 key transport (RFC 5652 6.2.1). */
function envelopePkcs1(inner: Buffer, certPem: string, cert: pkijs.Certificate): pkijs.EnvelopedData {
  const cek = randomBytes(32);
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', cek, iv); // PKCS #7 padding, as CMS requires
  const encrypted = Buffer.concat([cipher.update(inner), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: new X509Certificate(certPem).publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  cek.fill(0);
  const ab = (b: Buffer) => new Uint8Array(b).buffer;
  return new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() }),
          encryptedKey: new asn1js.OctetString({ valueHex: ab(encryptedKey) }),
        }),
      }),
    ],
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.aes256cbc, algorithmParams: new asn1js.OctetString({ valueHex: ab(iv) }) }),
      encryptedContent: new asn1js.OctetString({ valueHex: ab(encrypted) }),
    }),
  });
}

export async function smimeEnvelope(message: Buffer, certPem: string, transport: SmimeKeyTransport = 'rsa-pkcs1'): Promise<Buffer> {
  const { outer, inner } = innerEntity(message);
  const cert = certificate(certPem);
  let enveloped: pkijs.EnvelopedData;
  if (transport === 'rsa-pkcs1') {
    enveloped = envelopePkcs1(inner, certPem, cert);
  } else {
    enveloped = new pkijs.EnvelopedData();
    enveloped.addRecipientByCertificate(cert, { oaepHashAlgorithm: 'SHA-256' }, 1);
    await enveloped.encrypt({ name: 'AES-CBC', length: 256 } as never, new Uint8Array(inner).buffer);
  }
  const content = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.ENVELOPED_DATA, content: enveloped.toSchema() });
  const p7m = Buffer.from(content.toSchema().toBER(false));
  const root = new MimeNode('application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"');
  root.setHeader('Content-Disposition', 'attachment; filename="smime.p7m"');
  root.setHeader('Content-Description', 'S/MIME Encrypted Message');
  root.setHeader('Content-Transfer-Encoding', 'base64');
  root.setContent(p7m);
  return assemble(outer, root);
}
