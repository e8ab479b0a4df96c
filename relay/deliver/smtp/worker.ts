// The delivery thread: runs the SMTP agent (MX lookups, pooled connections, DKIM, the DATA stream) off the
// main thread, which keeps intake and the queue. It reads message files itself; the main thread sends
// only the envelope, the recipients to try and the config.
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../ops/log.ts';
import { SmtpAgent, type AgentHost } from './agent.ts';
import type { FromThread, ToThread } from './thread-protocol.ts';

const port = parentPort!;
const reply = (m: FromThread) => port.postMessage(m);
const host: AgentHost = {
  snapshot: { config: (workerData as { config: AgentHost['snapshot']['config'] }).config },
  log: createLogger((workerData as { level: string }).level),
  metrics: { dane: { inc: ({ result }) => reply({ type: 'dane', result }) } },
};
const agent = new SmtpAgent(host);

port.on('message', (msg: ToThread) => {
  if (msg.type === 'config') {
    host.snapshot = { config: msg.config };
  } else if (msg.type === 'deliver') {
    const { mail, file } = msg;
    const highWaterMark = Math.min(256 * 1024, Math.max(16 * 1024, mail.size + 1));
    agent
      .deliver(mail, msg.indexes, () => createReadStream(file, { start: mail.headerBytes, highWaterMark }))
      .then(
        (outcomes) => reply({ type: 'done', id: msg.id, outcomes }),
        (err: Error) => reply({ type: 'error', id: msg.id, message: err.message }),
      );
  } else if (msg.type === 'resume') {
    agent.resume();
  } else if (msg.type === 'close') {
    void agent.close().then(() => {
      host.log.flush?.();
      reply({ type: 'closed' });
      port.close();
    });
  }
});
