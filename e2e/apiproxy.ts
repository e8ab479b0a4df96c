// This cluster has no kube-proxy and its API server listens on 127.0.0.1 only, so a pod cannot reach it
// through the `kubernetes` Service the way an in-cluster client expects. For the operator pod, the e2e tier
// plays kube-proxy for that one Service: a TCP forwarder on the host's pod-bridge address to the API server.
// The pod reaches it as kubernetes.default.svc (a hostAlias, a name the serving certificate holds), so TLS
// verification and the ServiceAccount token work unchanged. Bytes only: TLS stays end to end.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ApiProxy {
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiProxy(bindHost: string, target: URL): Promise<ApiProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 443), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, bindHost, () => resolve());
  });
  return {
    host: bindHost,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
