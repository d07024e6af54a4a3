/** Who a request runs as. The tenant is always a verified value, never one the model supplied. */
export interface Principal {
  subject: string;
  tenant: string;
  scopes: readonly string[];
  /** How the principal was established; `none` only on stdio or a loopback bind. */
  method: 'oauth' | 'api-key' | 'none';
}

export function hasScopes(principal: Principal, required: readonly string[]): boolean {
  return required.every((scope) => principal.scopes.includes(scope));
}

export function missingScopes(principal: Principal, required: readonly string[]): string[] {
  return required.filter((scope) => !principal.scopes.includes(scope));
}
