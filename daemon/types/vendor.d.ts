// Types for the parts of untyped packages that Sealpost uses.

declare module 'mailsplit' {
  import { Transform } from 'node:stream';
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
  /** One MIME node as the splitter sees it (headers parsed, body not yet). */
  export interface MimeNode {
    type: 'node';
    root: boolean;
    parentNode: MimeNode | undefined;
    multipart: string | false;
    contentType: string | false;
    disposition: string | false;
    filename: string | false;
    getHeaders(): Buffer;
  }
  export type SplitterChunk = MimeNode | { type: 'body' | 'data'; value: Buffer };
  export class Splitter extends Transform {
    constructor(config?: { ignoreEmbedded?: boolean; maxHeadSize?: number });
  }
}
