export { type ApiKeyEntry, type ApiKeyStore, createApiKeyStore, loadApiKeys } from './api-keys.js';
export {
  type Authenticator,
  type AuthenticatorOptions,
  type AuthFailureReason,
  type AuthMethod,
  type AuthOutcome,
  createAuthenticator,
} from './authenticator.js';
export { TokenRejectedError, type TokenRejection } from './jwt.js';
export {
  bearerChallenge,
  protectedResourceMetadata,
  type ResourceMetadataOptions,
  resourceMetadataUrl,
} from './metadata.js';
export { hasScopes, missingScopes, type Principal } from './principal.js';
