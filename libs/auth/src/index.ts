export { type ApiKeyEntry, type ApiKeyStore, createApiKeyStore, loadApiKeys } from './api-keys.js';
export {
  type AuthFailureReason,
  type AuthMethod,
  type AuthOutcome,
  type Authenticator,
  type AuthenticatorOptions,
  createAuthenticator,
} from './authenticator.js';
export { type TokenRejection, TokenRejectedError } from './jwt.js';
export {
  bearerChallenge,
  protectedResourceMetadata,
  type ResourceMetadataOptions,
  resourceMetadataUrl,
} from './metadata.js';
export { FLEET_SCOPES, hasScopes, missingScopes, type Principal } from './principal.js';
