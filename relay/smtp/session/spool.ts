// Moves the DATA stream through the content guard into the queue file, and makes a transfer that is cut
// short (the client closed the connection, or the DATA deadline destroyed the stream) fail the copy.
// `source.pipe(guard)` alone never passes an abort on: smtp-server destroys the stream without ending
// it, the guard waits for an end that never comes and the queue file stays open and on disk (one
// descriptor and one incoming/ file per aborted DATA, until EMFILE). pipeline() over all three would pass
// the abort on, but it would also destroy the SMTP stream when the *file* fails (a full disk), and the
// client's remaining DATA must still be read before the 452 goes out. So: the file's failure stays
// downstream, the source's premature close is turned into an error here.
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The DATA stream ended without its final dot: the client left, or the session was closed on it. */
export class TransferCut extends Error {
  readonly code = 'ECONNECTION';
}

export async function spool(source: Readable, guard: Transform, sink: Writable): Promise<void> {
  const cut = () => {
    if (!source.readableEnded) guard.destroy(new TransferCut('DATA stream closed before its end'));
  };
  source.once('close', cut);
  // with an 'error' listener smtp-server destroys the stream with an error as well; either way, cut
  source.on('error', cut);
  try {
    if (source.destroyed) cut();
    source.pipe(guard);
    await pipeline(guard, sink);
  } finally {
    source.off('close', cut);
    source.off('error', cut);
  }
}
