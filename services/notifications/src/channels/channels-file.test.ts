import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../testing/harness.js';
import { loadChannelsFile } from './channels-file.js';

let dir: string;
const secret = newWebhookSecret();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-channels-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

/** The ConfigError message loading `path` fails with. */
function problemsOf(path: string): string {
  try {
    loadChannelsFile(path);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('NOTIFY_CHANNELS_FILE', () => {
  it('reads YAML with defaults filled in', async () => {
    const path = await file(
      'channels.yaml',
      [
        'channels:',
        '  - name: ops',
        '    kind: webhook',
        '    url: https://hooks.example.com/ops',
        `    secret: ${secret}`,
        '  - name: mail',
        '    kind: email',
        '    smtpUrl: smtps://user:pass@smtp.example.com',
        '    from: Flotilla <flotilla@example.com>',
        '    allowedDomains: [Example.COM]',
        '    broadcast: true',
        '    rateLimitPerMinute: 30',
      ].join('\n'),
    );
    expect(loadChannelsFile(path)).toEqual([
      { name: 'ops', kind: 'webhook', url: 'https://hooks.example.com/ops', secret, broadcast: false },
      {
        name: 'mail',
        kind: 'email',
        smtpUrl: 'smtps://user:pass@smtp.example.com',
        from: 'Flotilla <flotilla@example.com>',
        allowedDomains: ['example.com'],
        broadcast: true,
        rateLimitPerMinute: 30,
      },
    ]);
  });

  it('reads JSON', async () => {
    const path = await file(
      'channels.json',
      JSON.stringify({ channels: [{ name: 'team', kind: 'slack', url: 'https://hooks.slack.com/services/T/B/X' }] }),
    );
    expect(loadChannelsFile(path)).toMatchObject([{ name: 'team', kind: 'slack' }]);
  });

  it('lists every problem with where it is, and never the values, which may be secrets', async () => {
    const leaked = 'whsec_!!not-base64!!';
    const path = await file(
      'bad.json',
      JSON.stringify({
        channels: [
          { name: 'ops', kind: 'webhook', url: 'ftp://files.example.com', secret: leaked },
          { name: 'ops', kind: 'slack', url: 'https://hooks.slack.com/x', token: 'xoxb-secret-token' },
          {
            name: 'mail',
            kind: 'email',
            smtpUrl: 'smtp://u:p4ss@smtp.example.com',
            from: 'x@example.com',
            allowedDomains: [],
          },
          { name: 'sms', kind: 'sms' },
        ],
      }),
    );
    const message = problemsOf(path);
    expect(message).toContain(`invalid NOTIFY_CHANNELS_FILE ${path}`);
    for (const where of [
      'channels[0].url',
      'channels[0].secret',
      'channels[1]',
      'channels[2].allowedDomains',
      'channels[3].kind',
    ]) {
      expect(message).toContain(where);
    }
    expect(message).toContain('token');
    for (const value of [leaked, 'xoxb-secret-token', 'p4ss', 'ftp://files.example.com']) {
      expect(message).not.toContain(value);
    }
  });

  it('refuses duplicate channel names', async () => {
    const channel = { kind: 'slack', url: 'https://hooks.slack.com/x' };
    const path = await file(
      'dupes.json',
      JSON.stringify({
        channels: [
          { name: 'a', ...channel },
          { name: 'a', ...channel },
        ],
      }),
    );
    expect(problemsOf(path)).toContain('duplicate channel name "a"');
  });

  it('refuses a secret that is too short to be a Standard Webhooks key', async () => {
    const path = await file(
      'short.json',
      JSON.stringify({
        channels: [{ name: 'a', kind: 'webhook', url: 'https://x.example', secret: 'whsec_c2hvcnQ=' }],
      }),
    );
    expect(problemsOf(path)).toContain('24 to 64 random bytes');
  });

  it('reports a syntax error by position without quoting the line', async () => {
    const path = await file('broken.yaml', `channels:\n  - name: ops\n    secret: "${secret}\n   url: [`);
    const message = problemsOf(path);
    expect(message).toMatch(/not valid JSON or YAML at line \d+, column \d+/);
    expect(message).not.toContain(secret);
  });

  it('says when the file cannot be read', () => {
    expect(problemsOf(join(dir, 'missing.yaml'))).toContain('cannot read the file (ENOENT)');
  });
});
