import { z } from 'zod';
import { SEVERITIES } from '../channels/channel.js';
import { BROADCAST_SCOPE } from '../outbox.js';
import { notificationsTool, status, storedText } from '../tool.js';

export const sendNotification = notificationsTool({
  name: 'send_notification',
  title: 'Send a notification',
  description:
    'Sends a notification through one of the channels list_channels shows. It is accepted durably and delivered ' +
    'in the background, retried while the receiver is temporarily unavailable: the answer is its id and status ' +
    '(queued, or scheduled with sendAt), and get_notification tells how delivery went. idempotencyKey is ' +
    'required: repeating a call with the same key returns the same id and never sends twice, so after a timeout ' +
    'retry with the same key; use a new key for a new notification. Recipients ("to") depend on the channel: ' +
    'e-mail addresses in the allowed domains for email channels, identifiers the receiving system understands ' +
    'for webhooks, none for Slack. More recipients than the server allows per notification (10 by default), or ' +
    'a broadcast channel, need the notify:broadcast scope.',
  scopes: ['notify:send'],
  optionalScopes: [BROADCAST_SCOPE],
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  input: z.strictObject({
    channel: storedText(1, 63).describe('A channel name from list_channels.'),
    to: z
      .array(storedText(1, 320))
      .min(1)
      .max(1000)
      .optional()
      .describe('Recipients, e.g. ["ops@example.com"]; omit for channels that reach a fixed audience.'),
    subject: storedText(1, 200).optional().describe('A short headline.'),
    body: storedText(1, 10_000).describe('The message itself, plain text.'),
    severity: z.enum(SEVERITIES).default('info').describe('info (default), warning or critical.'),
    idempotencyKey: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'use printable ASCII without spaces')
      .describe('A key unique to this notification, e.g. "deploy-4711-done"; reuse it only to retry this same send.'),
    sendAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Send later, at this ISO 8601 time with offset (at most 30 days ahead), e.g. 2030-01-01T09:00:00Z.'),
  }),
  output: z.object({ id: z.string(), status }),
  async handler(input, { principal, deps }) {
    return deps.outbox.send(principal, input);
  },
});
