import { type ApiKeyStore, loadApiKeys } from './api-keys.js';
import { createJwtVerifier, type JwtVerifier, TokenRejectedError, type TokenRejection } from './jwt.js';
import type { Principal } from './principal.js';

export type AuthMethod = 'oauth' | 'api-key' | 'none';

export interface AuthenticatorOptions {
  methods: readonly AuthMethod[];
  publicUrl: string;
  issuer?: string;
  jwksUrl?: string;
  jwksFile?: string;
  apiKeysFile?: string;
  tenantClaim: string;
  /** The principal used when `none` is allowed and no credentials came with the request. */
  anonymous: Principal;
}

export type AuthFailureReason = 'missing' | 'unknown_key' | TokenRejection;

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; reason: AuthFailureReason; description: string };

export interface Authenticator {
  authenticate(headers: { authorization?: string; apiKey?: string }): Promise<AuthOutcome>;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Turns request credentials into a principal. A bearer value shaped like a JWT goes to the JWKS
 * verifier; anything else (or an `X-API-Key` header) is looked up as an API key.
 */
export async function createAuthenticator(options: AuthenticatorOptions): Promise<Authenticator> {
  let jwt: JwtVerifier | undefined;
  let keys: ApiKeyStore | undefined;
  if (options.methods.includes('oauth')) {
    if (!options.issuer) throw new Error('oauth needs AUTH_ISSUER');
    jwt = await createJwtVerifier({
      issuer: options.issuer,
      audience: options.publicUrl,
      jwksUrl: options.jwksUrl,
      jwksFile: options.jwksFile,
      tenantClaim: options.tenantClaim,
    });
  }
  if (options.methods.includes('api-key')) {
    if (!options.apiKeysFile) throw new Error('api-key needs AUTH_API_KEYS_FILE');
    keys = await loadApiKeys(options.apiKeysFile);
  }
  const allowNone = options.methods.includes('none');

  return {
    async authenticate(headers) {
      const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]?.trim();
      const credential = bearer ?? headers.apiKey;
      if (!credential) {
        return allowNone
          ? { ok: true, principal: options.anonymous }
          : { ok: false, reason: 'missing', description: 'credentials are required' };
      }
      if (jwt && bearer && JWT_SHAPE.test(bearer)) {
        try {
          return { ok: true, principal: await jwt.verify(bearer) };
        } catch (error) {
          if (error instanceof TokenRejectedError)
            return { ok: false, reason: error.reason, description: error.message };
          throw error;
        }
      }
      const principal = keys?.verify(credential);
      return principal
        ? { ok: true, principal }
        : { ok: false, reason: keys ? 'unknown_key' : 'invalid_token', description: 'the credentials are not valid' };
    },
  };
}
