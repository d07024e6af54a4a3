import { toolsFor } from '@flotilla/runtime';

import { z } from 'zod';
import { SEVERITIES } from './channels/channel.js';
import type { ChannelDirectory } from './channels/directory.js';
import type { Outbox } from './outbox.js';
import { STATUSES } from './store/notification-store.js';

export { READ_ANNOTATIONS } from '@flotilla/runtime';

/** What notification tools may touch: the channel directory and the tenant-scoped outbox, never a pool or a channel's URL. */
export interface NotificationsDeps {
  channels: ChannelDirectory;
  outbox: Outbox;
}

export const notificationsTool = toolsFor<NotificationsDeps>();

/**
 * Text an agent sends that is stored in Postgres: between `min` and `max` characters and without NUL, which a
 * Postgres text value cannot hold (it failed as INTERNAL at the insert; found by test/fuzz).
 */
export function storedText(min: number, max: number) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'must not contain NUL characters');
}

export const notificationId = z.uuid().describe('The id send_notification returned.');

export const status = z.enum(STATUSES);

export const notificationView = z.object({
  id: z.string(),
  channel: z.string(),
  status: status.describe(
    'scheduled (waiting for sendAt), queued, sending (an attempt is running), retrying (waiting for the next ' +
      'attempt), delivered, failed or cancelled.',
  ),
  severity: z.enum(SEVERITIES),
  subject: z.string().nullable(),
  recipients: z.array(z.string()),
  attempts: z.number().int().describe('Delivery attempts made so far; more than 1 means it was sent again.'),
  lastError: z.string().nullable().describe('Why the last failed attempt failed; null once delivered.'),
  createdAt: z.string(),
  sendAt: z.string().describe('When it was due to be sent.'),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  cancelledAt: z.string().nullable(),
});
