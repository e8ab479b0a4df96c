// Messages between the relay's main thread and the delivery thread (structured-cloned).
import type { Config } from '../../config/schema.ts';
import type { QueuedMail } from '../../queue/fs.ts';
import type { DeliveryOutcome } from '../../scheduler/scheduler.ts';
import type { DaneCount } from './agent.ts';

export type ToThread =
  | { type: 'config'; config: Config }
  | { type: 'deliver'; id: number; mail: QueuedMail; indexes: number[]; file: string }
  | { type: 'resume' }
  | { type: 'close' };

export type FromThread =
  | { type: 'done'; id: number; outcomes: DeliveryOutcome[] }
  | { type: 'error'; id: number; message: string }
  | { type: 'closed' }
  /** A DANE outcome for the relay's metrics (the registry lives on the main thread). */
  | { type: 'dane'; result: DaneCount };
