import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeLineEndings, prepareMessage, scanLineEndings } from '../../daemon/intake/message.js';
import { senderAllowed } from '../../daemon/apps/registry.js';
import { IntakeReject } from '../../daemon/intake/replies.js';

const base = {
  queueId: 'Q1',
  hostname: 'mail.clinic.test',
  helo: 'ehr.local',
  clientIp: '127.0.0.1',
  clientHostname: '',
  tls: 'TLSv1.3',
  recipients: ['p@example.org'],
  bareNewline: 'normalize' as const,
  senderAllowed: (a: string) => a.endsWith('@clinic.test'),
};

describe('line endings', () => {
  it('finds NUL and bare CR/LF, and normalizes to CRLF', () => {
    assert.deepEqual(scanLineEndings(Buffer.from('a\r\nb\r\n')), { nul: false, bare: false });
    assert.deepEqual(scanLineEndings(Buffer.from('a\nb')), { nul: false, bare: true });
    assert.deepEqual(scanLineEndings(Buffer.from('a\rb')), { nul: false, bare: true });
    assert.deepEqual(scanLineEndings(Buffer.from('a\0b')), { nul: true, bare: false });
    assert.equal(normalizeLineEndings(Buffer.from('a\nb\rc\r\nd\n\r')).toString(), 'a\r\nb\r\nc\r\nd\r\n\r\n');
  });
});

describe('prepareMessage', () => {
  it('adds Received on top, Message-ID and Date when missing', () => {
    const r = prepareMessage({ ...base, raw: Buffer.from('From: Doc <doc@clinic.test>\r\nSubject: x\r\n\r\nbody\r\n') });
    const text = r.data.toString();
    assert.match(text, /^Received: from ehr\.local \(unknown \[127\.0\.0\.1\]\)\r\n\tby mail\.clinic\.test \(Sealpost\) with ESMTPSA id Q1/);
    assert.match(text, /\r\nMessage-ID: <[^>]+@mail\.clinic\.test>\r\n/);
    assert.match(text, /\r\nDate: /);
    assert.ok(text.endsWith('\r\n\r\nbody\r\n'));
    assert.equal(r.messageId, /Message-ID: (<[^>]+>)/.exec(text)![1]);
  });

  it('keeps a valid Message-ID', () => {
    const r = prepareMessage({ ...base, raw: Buffer.from('From: doc@clinic.test\r\nMessage-ID: <abc@ehr>\r\n\r\nb') });
    assert.equal(r.messageId, '<abc@ehr>');
    assert.equal(r.data.toString().match(/Message-ID/g)?.length, 1);
  });

  it('refuses a From that the app does not own, including inside a group', () => {
    const code = (raw: string) => {
      try {
        prepareMessage({ ...base, raw: Buffer.from(raw) });
        return 'accepted';
      } catch (e) {
        return (e as IntakeReject).code;
      }
    };
    assert.equal(code('From: boss@other.example\r\n\r\nb'), 'SENDER_NOT_OWNED');
    assert.equal(code('From: doc@clinic.test, boss@other.example\r\n\r\nb'), 'SENDER_NOT_OWNED');
    assert.equal(code('From: team: doc@clinic.test, boss@other.example;\r\n\r\nb'), 'SENDER_NOT_OWNED');
    assert.equal(code('Subject: none\r\n\r\nb'), 'FROM_MISSING');
    assert.equal(code(`From: doc@clinic.test\r\nX-Big: ${'a'.repeat(110_000)}\r\n\r\nb`), 'HEADER_TOO_LARGE');
    assert.equal(code('From: doc@clinic.test\r\n\r\nb\0'), 'NUL_IN_DATA');
  });
});

describe('senderAllowed', () => {
  it('matches wildcards case-insensitively and nothing else', () => {
    assert.ok(senderAllowed(['*@clinic.test'], 'Front.Desk@Clinic.Test'));
    assert.ok(!senderAllowed(['*@clinic.test'], 'x@evilclinic.test'));
    assert.ok(!senderAllowed(['*@clinic.test'], 'x@clinic.test.evil'));
    assert.ok(senderAllowed(['billing@clinic.test'], 'billing@clinic.test'));
    assert.ok(!senderAllowed(['billing@clinic.test'], 'billingx@clinic.test'));
  });
});
