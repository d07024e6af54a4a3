import { protectedResourceMetadata, resourceMetadataUrl } from '@flotilla/auth';
import { isLoopback, type RuntimeConfig } from './config.js';

/**
 * SPEC §4: PUBLIC_URL, the metadata document's `resource` and the audience tokens are checked
 * against must be one and the same URL. A mismatch means every token is refused (or, worse, a
 * token for another server is accepted), so the server refuses to start instead.
 */
export function resourceIdentityProblems(config: RuntimeConfig, expectedAudience: string): string[] {
  const problems: string[] = [];
  const url = new URL(config.PUBLIC_URL);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    problems.push(`PUBLIC_URL must use https (http only for loopback hosts), got ${url.protocol}`);
  }
  if (url.search || url.hash) problems.push('PUBLIC_URL must not carry a query or a fragment');
  if (!url.pathname.endsWith('/mcp')) problems.push('PUBLIC_URL must end with /mcp, the path the server answers on');
  const metadata = protectedResourceMetadata({
    publicUrl: config.PUBLIC_URL,
    authorizationServers: config.AUTH_SERVERS,
    scopesSupported: [],
    resourceName: 'check',
  });
  if (metadata.resource !== config.PUBLIC_URL) problems.push('the metadata resource differs from PUBLIC_URL');
  if (expectedAudience !== config.PUBLIC_URL) problems.push('the expected token audience differs from PUBLIC_URL');
  if (!resourceMetadataUrl(config.PUBLIC_URL).startsWith(url.origin)) {
    problems.push('the metadata URL is not on the PUBLIC_URL origin');
  }
  if (!config.ALLOWED_HOSTS.includes('*') && !config.ALLOWED_HOSTS.includes(url.hostname)) {
    problems.push(`ALLOWED_HOSTS must include the PUBLIC_URL host ${url.hostname}`);
  }
  return problems;
}
