// The control API's error-code catalogue: one code per failure a client can act on.
// Tests assert codes; messages may change.

export const CONTROL_ERRORS = {
  BAD_REQUEST: 'the request frame is not valid JSON or lacks id/method',
  FRAME_TOO_LARGE: 'the request frame exceeds the size limit',
  VERSION_MISMATCH: 'client and daemon speak different protocol versions',
  UNAUTHENTICATED: 'the connection has not proven a local identity yet',
  IDENTITY_FAILED: 'the identity proof could not be verified',
  UNKNOWN_USER: 'this Unix user has no Sealpost role',
  FORBIDDEN: 'the role of this user does not allow the method',
  UNKNOWN_METHOD: 'no such method',
  INVALID_PARAMS: 'the parameters do not fit the method',
  NOT_FOUND: 'no such object',
  CONFLICT: 'the object already exists or is in the wrong state',
  INTERNAL: 'the daemon failed; details are in its log under the reference id',
  UNAVAILABLE: 'the daemon cannot be reached',
} as const;

export type ControlErrorCode = keyof typeof CONTROL_ERRORS;

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message?: string) {
    super(message ?? CONTROL_ERRORS[code]);
    this.code = code;
    this.name = 'ControlError';
  }
}
