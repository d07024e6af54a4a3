export { ConfigError, env, isLoopback, loadConfig, type RuntimeConfig, runtimeEnvironment } from './config.js';
export { ERROR_CODES, type ErrorCode, ToolError, type ToolErrorPayload } from './errors.js';
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
  describeTool,
  type ToolAnnotations,
  type ToolContext,
  type ToolDefinition,
  toolsFor,
} from './tool.js';
