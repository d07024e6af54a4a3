export { CallStoppedError, withDeadline } from './deadline.js';
export {
  BrokenCircuitError,
  createDependencyPolicy,
  type DependencyPolicy,
  type DependencyPolicyOptions,
  isBrokenCircuit,
} from './dependency-policy.js';
export { checkDependencies, type DependencyCheck, type DependencyStatus, type HealthReport } from './health.js';
export { isTransientPostgresError } from './postgres-errors.js';
export {
  createRateLimiter,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitFailMode,
  RateLimitStoreUnavailableError,
} from './rate-limit.js';
export { createRedisClient, type Redis, settleConnection } from './redis.js';
