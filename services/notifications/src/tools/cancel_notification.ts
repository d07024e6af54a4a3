import { z } from 'zod';
import { notificationId, notificationsTool, status } from '../tool.js';

export const cancelNotification = notificationsTool({
  name: 'cancel_notification',
  title: 'Cancel a notification',
  description:
    'Cancels one of your notifications that has not been sent yet (scheduled, queued, or waiting to be retried); ' +
    'it is then never delivered. Once an attempt is running or it was delivered, cancelling fails with CONFLICT ' +
    'saying so. Cancelling a cancelled notification again is harmless.',
  scopes: ['notify:send'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.strictObject({ id: notificationId }),
  output: z.object({ id: z.string(), status }),
  async handler({ id }, { principal, deps }) {
    return deps.outbox.cancel(principal, id);
  },
});
