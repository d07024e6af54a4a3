import { hash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Principal } from './principal.js';

const ApiKeyEntrySchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex SHA-256 of the key'),
  subject: z.string().min(1),
  tenant: z.string().min(1),
  scopes: z.array(z.string().min(1)),
});
const ApiKeysFileSchema = z.union([z.strictObject({ keys: z.array(ApiKeyEntrySchema) }), z.array(ApiKeyEntrySchema)]);

export type ApiKeyEntry = z.infer<typeof ApiKeyEntrySchema>;

export interface ApiKeyStore {
  verify(rawKey: string): Principal | undefined;
  readonly size: number;
}

/** Reads the mounted key list. Only hashes are stored, so a leaked file grants nothing. */
export async function loadApiKeys(path: string): Promise<ApiKeyStore> {
  const text = await readFile(path, 'utf8');
  const parsed = ApiKeysFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`AUTH_API_KEYS_FILE is not a valid key list: ${z.prettifyError(parsed.error)}`);
  }
  return createApiKeyStore(Array.isArray(parsed.data) ? parsed.data : parsed.data.keys);
}

export function createApiKeyStore(entries: readonly ApiKeyEntry[]): ApiKeyStore {
  const hashed = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
  return {
    size: hashed.length,
    verify(rawKey) {
      const digest = hash('sha256', rawKey, 'buffer');
      // Compare against every entry, without an early exit, so timing reveals nothing about which key is near.
      let match: ApiKeyEntry | undefined;
      for (const candidate of hashed) {
        if (timingSafeEqual(candidate.digest, digest) && !match) match = candidate.entry;
      }
      return match && { subject: match.subject, tenant: match.tenant, scopes: match.scopes, method: 'api-key' };
    },
  };
}
