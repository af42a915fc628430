// Types for the parts of untyped packages that Sealpost uses.

declare module 'mailsplit' {
  export class Headers {
    constructor(headers: Buffer | string);
    hasHeader(key: string): boolean;
    get(key: string): string[];
    getFirst(key: string): string;
    add(key: string, value: string, index?: number): void;
    addFormatted(key: string, line: string, index?: number): void;
    remove(key: string): void;
    build(lineEnd?: string): Buffer;
  }
}
