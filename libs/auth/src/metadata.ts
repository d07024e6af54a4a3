/**
 * RFC 9728 protected-resource metadata and the RFC 6750 challenges that point clients at it.
 */
export interface ResourceMetadataOptions {
  /** The canonical resource URL, e.g. https://db.mcp.example.com/mcp. */
  publicUrl: string;
  authorizationServers: readonly string[];
  scopesSupported: readonly string[];
  resourceName: string;
}

export function protectedResourceMetadata(options: ResourceMetadataOptions): Record<string, unknown> {
  return {
    resource: options.publicUrl,
    authorization_servers: options.authorizationServers,
    scopes_supported: options.scopesSupported,
    bearer_methods_supported: ['header'],
    resource_name: options.resourceName,
  };
}

/** Where the metadata lives: the path-aware form RFC 9728 §3.1 describes, e.g. /.well-known/oauth-protected-resource/mcp. */
export function resourceMetadataUrl(publicUrl: string): string {
  const url = new URL(publicUrl);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

export function bearerChallenge(options: {
  metadataUrl: string;
  scopes: readonly string[];
  error?: 'invalid_token' | 'insufficient_scope';
  description?: string;
}): string {
  const parts = [`resource_metadata="${options.metadataUrl}"`];
  if (options.scopes.length > 0) parts.push(`scope="${options.scopes.join(' ')}"`);
  if (options.error) parts.push(`error="${options.error}"`);
  if (options.description) parts.push(`error_description="${options.description.replaceAll('"', "'")}"`);
  return `Bearer ${parts.join(', ')}`;
}
