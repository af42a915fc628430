// The SMTP intake's reply catalogue: one code per refusal, with its RFC 5321 reply and
// RFC 3463 enhanced status. Replies are generic; detail goes to the log under a reference.

export const INTAKE_REPLIES = {
  AUTH_REQUIRED: [530, '5.7.0 Authentication required'],
  AUTH_FAILED: [535, '5.7.8 Authentication credentials invalid'],
  AUTH_TOO_MANY: [421, '4.7.0 Too many failed authentication attempts, closing connection'],
  AUTH_LOCKED: [454, '4.7.0 Temporary authentication failure, try again later'],
  SENDER_NOT_OWNED: [553, '5.7.1 Sender address not owned by this application'],
  NULL_SENDER: [553, '5.7.1 Null sender not allowed for submission'],
  BAD_PARAMETER: [501, '5.5.4 Invalid characters in command parameters'],
  ADDRESS_TOO_LONG: [501, '5.1.3 Address exceeds RFC 5321 length limits'],
  BAD_ADDRESS: [501, '5.1.3 Bad address syntax'],
  UTF8_NEEDS_SMTPUTF8: [553, '5.6.7 Non-ASCII address requires SMTPUTF8'],
  TOO_MANY_RECIPIENTS: [452, '4.5.3 Too many recipients'],
  NUL_IN_DATA: [550, '5.6.0 NUL characters not allowed in message data'],
  BARE_NEWLINE: [550, '5.6.0 Bare CR/LF not allowed in message data'],
  HEADER_TOO_LARGE: [552, '5.6.0 Message header size exceeds limit'],
  FROM_MISSING: [550, '5.6.0 A From header with an address is required'],
  MESSAGE_TOO_BIG: [552, '5.3.4 Message size exceeds fixed limit'],
  STORAGE_FULL: [452, '4.3.1 Insufficient system storage'],
  POLICY_BLOCK: [550, '5.7.1 Message refused by policy'],
  LOCAL_ERROR: [451, '4.3.0 Local error in processing'],
  SHUTTING_DOWN: [421, '4.3.2 Service shutting down'],
} as const satisfies Record<string, readonly [number, string]>;

export type IntakeReplyCode = keyof typeof INTAKE_REPLIES;

/** An Error that smtp-server turns into the reply (err.responseCode + message). */
export class IntakeReject extends Error {
  readonly responseCode: number;
  /** `detail`: an administrator-written reason (policy), never message content. */
  constructor(readonly code: IntakeReplyCode, ref?: string, detail?: string) {
    const [status, text] = INTAKE_REPLIES[code];
    const body = detail ? `${text}: ${detail.replace(/[\r\n]+/g, ' ')}` : text;
    super(ref ? `${body} (ref ${ref})` : body);
    this.responseCode = status;
    this.name = 'IntakeReject';
  }
}
