import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from './index.js';

describe('startTestIssuer', () => {
  let issuer: TestIssuer;
  let remoteKeys: ReturnType<typeof createRemoteJWKSet>;
  const audience = 'https://mcp.test/database';

  beforeAll(async () => {
    issuer = await startTestIssuer();
    remoteKeys = createRemoteJWKSet(new URL(issuer.jwksUrl));
  });

  afterAll(async () => {
    await issuer?.close();
  });

  it('mints ES256 tokens that verify against the served JWKS', async () => {
    const token = await issuer.mint({ subject: 'alice', audience, scopes: ['db:read', 'db:write'], tenant: 'acme' });
    const { payload, protectedHeader } = await jwtVerify(token, remoteKeys, { issuer: issuer.issuer, audience });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toEqual(expect.any(String));
    expect(payload).toMatchObject({ iss: 'https://issuer.test', sub: 'alice', aud: audience, tenant: 'acme' });
    expect(payload.scope).toBe('db:read db:write');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
  });

  it('writes the same JWKS to a file', async () => {
    const jwks = JSON.parse(await readFile(issuer.jwksFile, 'utf8')) as JSONWebKeySet;
    const served = (await (await fetch(issuer.jwksUrl)).json()) as JSONWebKeySet;
    expect(jwks).toEqual(served);
    const token = await issuer.mint({
      subject: 'bob',
      audience: [audience, 'other'],
      scopes: [],
      extraClaims: { x: 1 },
    });
    expect(jwks.keys[0]?.kid).toBe(decodeProtectedHeader(token).kid);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: issuer.issuer, audience: 'other' });
    expect(payload).toMatchObject({ sub: 'bob', aud: [audience, 'other'], scope: '', x: 1 });
    expect(payload).not.toHaveProperty('tenant');
  });

  it('mints tokens that must be rejected', async () => {
    const verify = async (token: Promise<string>) =>
      jwtVerify(await token, remoteKeys, { issuer: issuer.issuer, audience });
    const base = { subject: 'mallory', audience, scopes: ['db:read'] };
    await expect(verify(issuer.mint({ ...base, expiresInSeconds: -10 }))).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    });
    await expect(verify(issuer.mint({ ...base, signWithUnknownKey: true }))).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
    await expect(verify(issuer.mint({ ...base, issuer: 'https://evil.test' }))).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'iss',
    });
    await expect(verify(issuer.mint({ ...base, notBeforeSeconds: 60 }))).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'nbf',
    });
  });

  it('close() stops serving and removes the JWKS file', async () => {
    const other = await startTestIssuer();
    expect((await fetch(other.jwksUrl)).status).toBe(200);
    await other.close();
    await other.close();
    expect(existsSync(other.jwksFile)).toBe(false);
    await expect(fetch(other.jwksUrl)).rejects.toThrow();
  });
});
