import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../testing/harness.js';
import type { ChannelConfig } from './channels-file.js';
import { ChannelDirectory } from './directory.js';

// Node's CommonJS cache, shared by every require in this process (each test file runs in its own).
const loadedModules = createRequire(import.meta.url).cache;
const nodemailerLoaded = () => Object.keys(loadedModules).some((path) => path.includes('/node_modules/nodemailer/'));

const options = { timeoutMs: 1000, userAgent: 'test' };
const webhook = {
  name: 'ops',
  kind: 'webhook',
  url: 'https://hooks.example.com/ops',
  secret: newWebhookSecret(),
  broadcast: false,
} as unknown as ChannelConfig;
const email = {
  name: 'mail',
  kind: 'email',
  smtpUrl: 'smtp://127.0.0.1:2525',
  from: 'flotilla@example.com',
  allowedDomains: ['example.com'],
  broadcast: false,
} as unknown as ChannelConfig;

describe('the e-mail channel', () => {
  it('loads nodemailer only once an e-mail channel is configured', () => {
    new ChannelDirectory([webhook], options).close();
    expect(nodemailerLoaded()).toBe(false);
    const directory = new ChannelDirectory([webhook, email], options);
    expect(nodemailerLoaded()).toBe(true);
    expect(directory.get('mail')?.summary.kind).toBe('email');
    directory.close();
  });
});
