// The session's hook into intake checks (relay/intake/): with checks on, DATA was spooled to a scratch
// file; the checks read it, and the mail goes into the queue file through the header edit they decided
// (our Authentication-Results and Received: on top, forged results removed) — before the fsync, so the
// 250 still means the queued file, with its header, is durable. A refusal is thrown as one.
import type { Writable } from 'node:stream';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import type { Envelope } from '../../queue/envelope.ts';
import type { Scratch } from '../../queue/fs.ts';
import type { Logger } from '../../ops/log.ts';
import { checkMail, intakeResolver, type IntakeSettings } from '../../intake/intake.ts';
import { copyEdited } from '../../intake/header-edit.ts';
import { Refusal } from './once.ts';

export async function runChecks(
  relay: Relay,
  lr: ListenerRuntime,
  settings: IntakeSettings,
  mail: { envelope: Envelope; scratch: Scratch; size: number; received: string },
  sink: Writable,
  log: Logger,
): Promise<void> {
  const { config } = relay.snapshot;
  const authservId = lr.cfg.hostname ?? config.hostname ?? 'localhost';
  const decision = await checkMail(
    { file: mail.scratch.path, size: mail.size, envelope: mail.envelope, authservId },
    settings,
    { resolver: intakeResolver(config, settings), log, metrics: relay.metrics },
    lr.name,
  );
  if (decision.kind === 'refuse') throw new Refusal(decision.reply, decision.reason);
  decision.edit.add.push(mail.received);
  await copyEdited(mail.scratch.path, decision.edit, sink);
}
