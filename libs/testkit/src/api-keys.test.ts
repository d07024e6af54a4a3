import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { mintApiKey, writeApiKeysFile } from './index.js';

describe('mintApiKey', () => {
  it('returns a flt_ key and the lowercase hex SHA-256 of its UTF-8 bytes', () => {
    const { key, entry } = mintApiKey({ subject: 'svc-reporting', tenant: 'acme', scopes: ['db:read'] });
    expect(key).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice(4), 'base64url')).toHaveLength(32);
    expect(entry).toEqual({
      sha256: createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex'),
      subject: 'svc-reporting',
      tenant: 'acme',
      scopes: ['db:read'],
    });
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('never repeats a key', () => {
    const keys = new Set(Array.from({ length: 100 }, () => mintApiKey({ subject: 's', tenant: 't', scopes: [] }).key));
    expect(keys.size).toBe(100);
  });
});

describe('writeApiKeysFile', () => {
  it('writes { keys: [...] } to a temp file', async () => {
    const entries = [
      mintApiKey({ subject: 'a', tenant: 't1', scopes: ['x'] }).entry,
      mintApiKey({ subject: 'b', tenant: 't2', scopes: ['x', 'y'] }).entry,
    ];
    const file = await writeApiKeysFile(entries);
    expect(file).toMatch(/flotilla-keys-.*api-keys\.json$/);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ keys: entries });
  });
});
