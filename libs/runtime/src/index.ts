export { BatchSweep, type BatchSweepOptions, SWEEP_BATCH_SIZE } from './batch-sweep.js';
export { ConfigError, env, type RuntimeConfig, type Transport } from './config.js';
export { type ErrorCode, ToolError, type ToolErrorPayload } from './errors.js';
export { type ServerCard, serverCardOf } from './server-card.js';
export {
  type RunningService,
  runService,
  type ServiceDefinition,
  type ServiceKit,
  type ServiceParts,
  type StartOptions,
  startService,
} from './service.js';
export type { PromptDefinition, ResourceTemplateDefinition, SurfaceContext } from './surface.js';
export {
  type AnyTool,
  type ExtraContent,
  READ_ANNOTATIONS,
  type ToolAnnotations,
  type ToolContext,
  type ToolDefinition,
  toolsFor,
} from './tool.js';
