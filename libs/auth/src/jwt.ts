import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import type { Principal } from './principal.js';

export interface JwtVerifierOptions {
  issuer: string;
  /** The canonical resource URL (PUBLIC_URL); tokens minted for any other audience are refused. */
  audience: string;
  jwksUrl?: string;
  jwksFile?: string;
  tenantClaim: string;
  clockToleranceSeconds?: number;
}

export type TokenRejection = 'invalid_token' | 'expired' | 'wrong_audience' | 'wrong_issuer' | 'no_tenant';

export class TokenRejectedError extends Error {
  override name = 'TokenRejectedError';
  constructor(
    readonly reason: TokenRejection,
    message: string,
  ) {
    super(message);
  }
}

export interface JwtVerifier {
  verify(token: string): Promise<Principal>;
}

export async function createJwtVerifier(options: JwtVerifierOptions): Promise<JwtVerifier> {
  const keys = await keySource(options);
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: options.clockToleranceSeconds ?? 30,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (error) {
        throw classify(error);
      }
      const tenant = payload[options.tenantClaim];
      if (typeof tenant !== 'string' || tenant.length === 0) {
        throw new TokenRejectedError('no_tenant', `the token has no "${options.tenantClaim}" claim`);
      }
      return { subject: String(payload.sub), tenant, scopes: scopesOf(payload), method: 'oauth' };
    },
  };
}

async function keySource(options: JwtVerifierOptions): Promise<JWTVerifyGetKey> {
  if (options.jwksFile) {
    const jwks = JSON.parse(await readFile(options.jwksFile, 'utf8')) as JSONWebKeySet;
    return createLocalJWKSet(jwks);
  }
  if (options.jwksUrl) return createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 3000 });
  throw new Error('oauth needs AUTH_JWKS_URL or AUTH_JWKS_FILE');
}

/** `scope` (RFC 9068, space-separated) or `scp` (an array, as some identity providers issue it). */
function scopesOf(payload: JWTPayload): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((scope): scope is string => typeof scope === 'string');
  return [];
}

function classify(error: unknown): TokenRejectedError {
  if (error instanceof errors.JWTExpired) return new TokenRejectedError('expired', 'the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return new TokenRejectedError('wrong_audience', 'the token is not for this resource');
    if (error.claim === 'iss') return new TokenRejectedError('wrong_issuer', 'the token is from an unknown issuer');
    if (error.claim === 'nbf') return new TokenRejectedError('invalid_token', 'the token is not valid yet');
  }
  return new TokenRejectedError('invalid_token', 'the token could not be verified');
}
