import { z } from 'zod';
import { notificationsTool, READ_ANNOTATIONS } from '../tool.js';

export const listChannels = notificationsTool({
  name: 'list_channels',
  title: 'List notification channels',
  description:
    'Lists the channels this server can send notifications to, as configured by the operator: each has a name ' +
    '(what send_notification takes), a kind (webhook, slack or email), a description of who it reaches, and ' +
    'whether it is a broadcast channel (sending to one needs the notify:broadcast scope). Call this first.',
  scopes: ['notify:read'],
  annotations: READ_ANNOTATIONS,
  input: z.strictObject({}),
  output: z.object({
    channels: z.array(
      z.object({
        name: z.string(),
        kind: z.enum(['webhook', 'slack', 'email']),
        description: z.string(),
        broadcast: z.boolean(),
      }),
    ),
  }),
  async handler(_input, { deps }) {
    return { channels: deps.channels.list() };
  },
});
