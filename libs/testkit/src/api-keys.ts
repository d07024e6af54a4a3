import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTempDir, removeDirSync, track } from './cleanup.js';

export interface ApiKeyEntry {
  /** Lowercase hex SHA-256 of the key's UTF-8 bytes. */
  sha256: string;
  subject: string;
  tenant: string;
  scopes: string[];
}

export interface ApiKeyPrincipal {
  subject: string;
  tenant: string;
  scopes: string[];
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A fresh `flt_` key and the entry a key file stores for it (only its hash, never the key). */
export function mintApiKey(principal: ApiKeyPrincipal): { key: string; entry: ApiKeyEntry } {
  const key = `flt_${randomBytes(32).toString('base64url')}`;
  return {
    key,
    entry: {
      sha256: sha256Hex(key),
      subject: principal.subject,
      tenant: principal.tenant,
      scopes: [...principal.scopes],
    },
  };
}

/** Writes `{ "keys": [...] }` to a temp file that lives until the process exits; returns its path. */
export async function writeApiKeysFile(entries: ApiKeyEntry[]): Promise<string> {
  const dir = await createTempDir('flotilla-keys-');
  track({ cleanupSync: () => removeDirSync(dir) });
  const file = join(dir, 'api-keys.json');
  await writeFile(file, `${JSON.stringify({ keys: entries }, null, 2)}\n`);
  return file;
}
