// The ops port: /healthz (the process serves), /readyz (listeners bound, not draining, the queue can
// take mail), /metrics (Prometheus). Plain node:http; nothing here touches mail.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthSource {
  ready(): Promise<{ ok: boolean; reason?: string }>;
  registry: Registry;
  /** The configHash of the config being served (header kubemta-config-hash on /healthz and /readyz). */
  configHash?: () => string | undefined;
  /** The digest of the table files being served (header kubemta-tables-hash; relay/lookup/table-digest.ts). */
  tablesHash?: () => string | undefined;
}

export const CONFIG_HASH_HEADER = 'kubemta-config-hash';
export const TABLES_HASH_HEADER = 'kubemta-tables-hash';

export async function startHttp(address: string, port: number, src: HealthSource): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    for (const [header, value] of [[CONFIG_HASH_HEADER, src.configHash?.()], [TABLES_HASH_HEADER, src.tablesHash?.()]]) {
      if (value !== undefined && (url === '/healthz' || url === '/readyz')) res.setHeader(header!, value);
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      src.ready().then(
        (r) => res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ok ? 'ok\n' : `not ready: ${r.reason}\n`),
        (err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${err.message}\n`),
      );
    } else if (url === '/metrics') {
      src.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': src.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return server;
}
