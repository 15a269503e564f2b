import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ActiveChecks } from './config';

/** What one active probe saw: a status (http/https), a completed connect (tcp), or a failure. */
export type ProbeResult = { kind: 'status'; status: number } | { kind: 'connected' } | { kind: 'tcp_failure' } | { kind: 'timeout' };

export interface ProbeTarget {
  host: string;
  port: number;
}

/**
 * Runs one probe against a node. Never rejects. The whole probe (connect, request, status
 * line) must finish within `timeout` seconds, as lua-resty-healthcheck's single socket
 * timeout does. `signal` aborts it (checker stopped): the socket is destroyed so nothing keeps
 * the process alive.
 */
export function probe(node: ProbeTarget, conf: ActiveChecks, signal: AbortSignal): Promise<ProbeResult> {
  const port = conf.port ?? node.port;
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let cleanup = (): void => undefined;
    const finish = (r: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      cleanup();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), Math.max(1, conf.timeout * 1000));
    timer.unref();
    const onAbort = (): void => finish({ kind: 'tcp_failure' });
    signal.addEventListener('abort', onAbort);

    if (conf.type === 'tcp') {
      const sock = net.connect({ host: node.host, port });
      cleanup = () => sock.destroy();
      sock.once('connect', () => finish({ kind: 'connected' }));
      sock.once('error', () => finish({ kind: 'tcp_failure' }));
      return;
    }
    const headers: Record<string, string> = { host: hostHeader(conf.host ?? node.host, port, conf.type), 'user-agent': 'portico-healthcheck' };
    for (const line of conf.req_headers) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const mod = conf.type === 'https' ? https : http;
    const req = mod.request({
      host: node.host,
      port,
      path: conf.http_path,
      method: 'GET',
      headers,
      agent: false,
      ...(conf.type === 'https' ? { rejectUnauthorized: conf.https_verify_certificate, servername: net.isIP(conf.host ?? node.host) ? undefined : conf.host ?? node.host } : {}),
    }, (res) => {
      // Only the status line matters; the body is discarded with the socket.
      finish({ kind: 'status', status: res.statusCode ?? 0 });
    });
    cleanup = () => req.destroy();
    req.once('error', () => finish({ kind: 'tcp_failure' }));
    req.end();
  });
}

function hostHeader(host: string, port: number, type: 'http' | 'https' | 'tcp'): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return (type === 'https' && port === 443) || (type === 'http' && port === 80) ? h : `${h}:${port}`;
}
