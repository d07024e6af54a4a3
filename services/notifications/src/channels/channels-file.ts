import { readFileSync } from 'node:fs';
import { ConfigError } from '@flotilla/runtime';
import { parse, YAMLError } from 'yaml';
import { z } from 'zod';

const channelName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'use 1-63 lower-case letters, digits, "-" and "_", starting with a letter or digit',
  );

const common = {
  name: channelName,
  description: z.string().max(1000).optional(),
  /** Every notification on this channel reaches many people, so sending needs notify:broadcast. */
  broadcast: z.boolean().default(false),
  rateLimitPerMinute: z.number().int().positive().optional(),
};

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** Standard Webhooks keys are `whsec_` + base64 of 24 to 64 random bytes. */
const webhookSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, {
    error: 'must be a Standard Webhooks secret: "whsec_" followed by base64',
    abort: true,
  })
  .refine(
    (secret) => {
      const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
      return bytes >= 24 && bytes <= 64;
    },
    { error: 'must encode 24 to 64 random bytes' },
  );

const domain = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .pipe(
    z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'must be a domain name'),
  );

const webhookChannel = z.strictObject({
  ...common,
  kind: z.literal('webhook'),
  url: httpUrl,
  secret: webhookSecret,
  /** When set, `to` may only name these recipients (exact match); otherwise `to` is passed through as given. */
  allowedRecipients: z.array(z.string().min(1).max(320)).min(1).optional(),
});

const slackChannel = z.strictObject({
  ...common,
  kind: z.literal('slack'),
  url: httpUrl,
});

const emailChannel = z.strictObject({
  ...common,
  kind: z.literal('email'),
  smtpUrl: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }),
  from: z.string().min(3).max(320).regex(/@/, 'must be an e-mail address, optionally as "Name <address>"'),
  allowedDomains: z.array(domain).min(1, 'list at least one recipient domain'),
  maxRecipients: z.number().int().positive().optional(),
});

const channelsFile = z
  .strictObject({
    channels: z
      .array(z.discriminatedUnion('kind', [webhookChannel, slackChannel, emailChannel]))
      .min(1, 'configure at least one channel'),
  })
  .superRefine((file, context) => {
    const seen = new Set<string>();
    file.channels.forEach((channel, index) => {
      if (seen.has(channel.name)) {
        context.addIssue({
          code: 'custom',
          message: `duplicate channel name "${channel.name}"`,
          path: ['channels', index, 'name'],
        });
      }
      seen.add(channel.name);
    });
  });

export type ChannelConfig = z.output<typeof channelsFile>['channels'][number];
export type WebhookChannelConfig = z.output<typeof webhookChannel>;
export type SlackChannelConfig = z.output<typeof slackChannel>;
export type EmailChannelConfig = z.output<typeof emailChannel>;

/**
 * Reads and validates NOTIFY_CHANNELS_FILE (JSON is YAML, so one parser reads both). Every problem
 * is reported in one ConfigError that names where it is, never the values: the file holds secrets.
 */
export function loadChannelsFile(path: string): ChannelConfig[] {
  const problem = (detail: string) => new ConfigError(`invalid NOTIFY_CHANNELS_FILE ${path}:\n${detail}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw problem(`✖ cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    if (!(error instanceof YAMLError)) throw error;
    // YAML's own message quotes the offending line, which may be a secret.
    const at = error.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    throw problem(`✖ not valid JSON or YAML${where} (${error.code})`);
  }
  const parsed = channelsFile.safeParse(document);
  if (!parsed.success) throw problem(z.prettifyError(parsed.error));
  return parsed.data.channels;
}
