// The control socket (like smtpctl's): `kubemta queue …` talks to the running relay through a Unix socket
// in the queue directory, so every change goes through the process that owns the queue.
import { createConnection, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runAdmin, type AdminHooks, type AdminRequest, type AdminResponse } from './admin.ts';
import type { QueueStore } from './fs.ts';

export function controlSocketPath(queueDir: string): string {
  return join(queueDir, 'control.sock');
}

export async function startControl(store: QueueStore, hooks: AdminHooks): Promise<Server> {
  const path = controlSocketPath(store.dir);
  await rm(path, { force: true });
  // Only the relay's user may use the socket, whatever the umask (bind() creates it 0777 & ~umask: under
  // umask 000 any local user could remove queued mail). chmod after bind would leave a window, so it is
  // bound in a directory of its own (mkdtemp: 0700), made 0600 there, then renamed into place.
  const staging = await mkdtemp(join(store.dir, '.control-'));
  const bound = join(staging, 'control.sock');
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', async (chunk) => {
      buf += chunk;
      if (buf.length > 65536) return sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let res: AdminResponse;
      try {
        res = await runAdmin(store, JSON.parse(buf.slice(0, nl)) as AdminRequest, hooks);
      } catch (err) {
        res = { ok: false, error: (err as Error).message };
      }
      sock.end(JSON.stringify(res) + '\n');
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => resolve());
    });
    await chmod(bound, 0o600);
    await rename(bound, path);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  // libuv unlinks the name it bound, which is gone now: remove the one in use
  server.once('close', () => rmSync(path, { force: true }));
  return server;
}

/** Sends one request to a running relay; undefined when no relay listens on the socket. */
export function askRelay(queueDir: string, req: AdminRequest, timeoutMs = 10000): Promise<AdminResponse | undefined> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(controlSocketPath(queueDir));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('the relay did not answer on its control socket'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d) => (buf += d));
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as AdminResponse);
      } catch (err) {
        reject(err);
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else reject(err);
    });
  });
}
