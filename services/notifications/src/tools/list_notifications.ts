import { z } from 'zod';
import { notificationsTool, notificationView, READ_ANNOTATIONS, status, storedText } from '../tool.js';

export const listNotifications = notificationsTool({
  name: 'list_notifications',
  title: 'List notifications',
  description:
    'Lists your notifications, newest first, optionally only those with one status or on one channel. Results ' +
    'come in pages: when nextCursor is not null, call again with it as cursor for the next page.',
  scopes: ['notify:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({
    status: status.optional().describe('Only notifications in this state, e.g. failed.'),
    channel: storedText(1, 63).optional().describe('Only notifications sent through this channel.'),
    cursor: storedText(1, 200).optional().describe('nextCursor from the previous page.'),
    limit: z.number().int().min(1).max(100).default(20).describe('Page size, 1 to 100 (default 20).'),
  }),
  output: z.object({
    notifications: z.array(notificationView),
    nextCursor: z.string().nullable(),
  }),
  async handler(filter, { principal, deps }) {
    return deps.outbox.list(principal, filter);
  },
});
