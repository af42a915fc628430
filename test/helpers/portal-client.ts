// A small HTTPS client for portal tests: one cookie jar (one "browser"), forms posted with
// the CSRF token read from the last page, TLS certificate not checked (the test daemon's
// certificate is self-signed).

import { request } from 'node:https';

export interface PortalResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class PortalClient {
  private readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(private readonly port: number) {}

  /** Requests leave from this loopback address when set (127.0.x.y: many "clients" for rate-limit-free benches). */
  from: string | null = null;

  private send(method: 'GET' | 'POST', path: string, form?: Record<string, string>): Promise<PortalResponse> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method,
          rejectUnauthorized: false,
          ...(this.from ? { localAddress: this.from } : {}),
          headers: {
            ...(this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
            ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {}),
          },
        },
        (res) => {
          for (const c of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
            const [pair] = c.split(';');
            const eq = pair!.indexOf('=');
            this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
          }
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1];
            if (csrf) this.csrf = csrf;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  get(path: string): Promise<PortalResponse> {
    return this.send('GET', path);
  }

  post(path: string, fields: Record<string, string> = {}): Promise<PortalResponse> {
    return this.send('POST', path, { csrf: this.csrf, ...fields });
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }
}
