import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createApiKeyStore } from './api-keys.js';
import { bearerChallenge, protectedResourceMetadata, resourceMetadataUrl } from './metadata.js';
import { hasScopes, missingScopes } from './principal.js';

const sha = (key: string) => createHash('sha256').update(key).digest('hex');

describe('API keys', () => {
  const store = createApiKeyStore([
    { sha256: sha('flt_alpha'), subject: 'alpha', tenant: 'acme', scopes: ['db:read'] },
    { sha256: sha('flt_beta'), subject: 'beta', tenant: 'globex', scopes: ['db:read', 'db:write'] },
  ]);

  it('finds the principal of a known key by its hash', () => {
    expect(store.verify('flt_beta')).toEqual({
      subject: 'beta',
      tenant: 'globex',
      scopes: ['db:read', 'db:write'],
      method: 'api-key',
    });
  });

  it('refuses unknown keys, prefixes and near misses', () => {
    for (const key of ['flt_gamma', 'flt_alph', 'flt_alpha ', '', sha('flt_alpha')])
      expect(store.verify(key)).toBeUndefined();
  });
});

describe('protected-resource metadata', () => {
  it('lives at the path-aware well-known URL of the resource', () => {
    expect(resourceMetadataUrl('https://db.mcp.example.com/mcp')).toBe(
      'https://db.mcp.example.com/.well-known/oauth-protected-resource/mcp',
    );
    expect(resourceMetadataUrl('https://db.mcp.example.com/')).toBe(
      'https://db.mcp.example.com/.well-known/oauth-protected-resource',
    );
  });

  it('names the resource exactly as PUBLIC_URL', () => {
    const document = protectedResourceMetadata({
      publicUrl: 'https://db.mcp.example.com/mcp',
      authorizationServers: ['https://login.example.com'],
      scopesSupported: ['db:read'],
      resourceName: 'db',
    });
    expect(document).toMatchObject({
      resource: 'https://db.mcp.example.com/mcp',
      authorization_servers: ['https://login.example.com'],
    });
  });

  it('builds RFC 6750 challenges that point at the metadata', () => {
    expect(
      bearerChallenge({
        metadataUrl: 'https://x/.well-known/oauth-protected-resource/mcp',
        scopes: ['db:write'],
        error: 'insufficient_scope',
      }),
    ).toBe(
      'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", scope="db:write", error="insufficient_scope"',
    );
  });
});

describe('scopes', () => {
  const principal = { subject: 's', tenant: 't', scopes: ['db:read'], method: 'api-key' as const };
  it('requires every declared scope', () => {
    expect(hasScopes(principal, ['db:read'])).toBe(true);
    expect(hasScopes(principal, ['db:read', 'db:write'])).toBe(false);
    expect(missingScopes(principal, ['db:read', 'db:write'])).toEqual(['db:write']);
  });
});
