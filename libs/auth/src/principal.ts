/** Who a request runs as. The tenant is always a verified value, never one the model supplied. */
export interface Principal {
  subject: string;
  tenant: string;
  scopes: readonly string[];
  /** How the principal was established; `none` only on stdio or a loopback bind. */
  method: 'oauth' | 'api-key' | 'none';
}

/** Every scope the fleet knows (SPEC §4). Each tool declares the ones it needs. */
export const FLEET_SCOPES = [
  'db:read',
  'db:write',
  'files:read',
  'files:write',
  'files:delete',
  'notify:read',
  'notify:send',
  'notify:broadcast',
] as const;

export function hasScopes(principal: Principal, required: readonly string[]): boolean {
  return required.every((scope) => principal.scopes.includes(scope));
}

export function missingScopes(principal: Principal, required: readonly string[]): string[] {
  return required.filter((scope) => !principal.scopes.includes(scope));
}
