import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { createTempDir, removeDir, removeDirSync, track } from './cleanup.js';
import { LOCALHOST } from './net.js';

export interface MintClaims {
  readonly subject: string;
  readonly audience: string | string[];
  /** Put in the `scope` claim, space-separated. */
  readonly scopes: string[];
  /** Put in the `tenant` claim. */
  readonly tenant?: string;
  /** Defaults to 300; negative means already expired. */
  readonly expiresInSeconds?: number;
  /** Seconds from now for `nbf`. */
  readonly notBeforeSeconds?: number;
  /** Overrides the issuer, to test a wrong one. */
  readonly issuer?: string;
  /** Signs with a key that is not in the JWKS (under the trusted key's kid, so only the signature check can catch it). */
  readonly signWithUnknownKey?: boolean;
  /** Merged last, so they can also overwrite the registered claims above. */
  readonly extraClaims?: Record<string, unknown>;
}

export interface TestIssuer {
  readonly issuer: string;
  /** http://127.0.0.1:PORT/jwks.json, served from this process. */
  readonly jwksUrl: string;
  /** The same JWKS, written to a temp file. */
  readonly jwksFile: string;
  mint(claims: MintClaims): Promise<string>;
  close(): Promise<void>;
}

const ISSUER = 'https://issuer.test';
const ALG = 'ES256';
const DEFAULT_TTL_SECONDS = 300;

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: LOCALHOST }, () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve(address.port);
      else reject(new Error('JWKS server has no TCP address'));
    });
  });
}

/** An OAuth-style token issuer with ES256 keys; its JWKS is served over HTTP and written to a file. */
export async function startTestIssuer(): Promise<TestIssuer> {
  const [trusted, unknown] = await Promise.all([generateKeyPair(ALG), generateKeyPair(ALG)]);
  const kid = randomUUID();
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(trusted.publicKey)), kid, alg: ALG, use: 'sig' }] });

  const dir = await createTempDir('flotilla-issuer-');
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/jwks.json') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(jwks);
    } else {
      response.writeHead(404).end();
    }
  });
  const untrack = track({
    cleanupSync: () => {
      server.close();
      removeDirSync(dir);
    },
  });
  // A forgotten close() must not keep the test process alive.
  server.unref();

  try {
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, jwks);
    const port = await listen(server);

    let closed: Promise<void> | undefined;
    return {
      issuer: ISSUER,
      jwksUrl: `http://${LOCALHOST}:${port}/jwks.json`,
      jwksFile,
      async mint(claims: MintClaims): Promise<string> {
        const now = Math.floor(Date.now() / 1000);
        const payload: JWTPayload = {
          iss: claims.issuer ?? ISSUER,
          sub: claims.subject,
          aud: claims.audience,
          iat: now,
          exp: now + (claims.expiresInSeconds ?? DEFAULT_TTL_SECONDS),
          ...(claims.notBeforeSeconds === undefined ? {} : { nbf: now + claims.notBeforeSeconds }),
          jti: randomUUID(),
          scope: claims.scopes.join(' '),
          ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
          ...claims.extraClaims,
        };
        const key = claims.signWithUnknownKey ? unknown.privateKey : trusted.privateKey;
        return new SignJWT(payload).setProtectedHeader({ alg: ALG, kid, typ: 'JWT' }).sign(key);
      },
      close(): Promise<void> {
        closed ??= (async () => {
          const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          await stopped;
          await removeDir(dir);
          untrack();
        })();
        return closed;
      },
    };
  } catch (error) {
    server.close();
    await removeDir(dir);
    untrack();
    throw error;
  }
}
