// Sealpost's version; a unit test keeps it equal to package.json.
export const SEALPOST_VERSION = '0.1.0';
