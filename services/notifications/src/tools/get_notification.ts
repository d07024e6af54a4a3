import { z } from 'zod';
import { notificationId, notificationsTool, notificationView, READ_ANNOTATIONS } from '../tool.js';

export const getNotification = notificationsTool({
  name: 'get_notification',
  title: 'Get a notification',
  description:
    'Shows one of your notifications and how its delivery stands: status, attempts made, the last error (for a ' +
    'failed or retrying one) and when it was delivered. Notifications of other tenants are never found.',
  scopes: ['notify:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({ id: notificationId }),
  output: notificationView,
  async handler({ id }, { principal, deps }) {
    return deps.outbox.get(principal, id);
  },
});
