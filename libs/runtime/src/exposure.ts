import { hasScopes, type Principal } from '@flotilla/auth';
import type { AnyTool } from './tool.js';

export interface ExposureSettings {
  READ_ONLY: boolean;
  TOOLS_ENABLED: string[];
  TOOLS_DISABLED: string[];
  /** Tools the service's own configuration leaves off (e.g. writes with no writable tables), with the reason. */
  unavailable?: Readonly<Record<string, string>>;
}

export type Exposure = { exposed: true } | { exposed: false; reason: string };

/**
 * Which tools this replica offers at all, decided in a fixed order: READ_ONLY first (it wins over
 * everything, so TOOLS_ENABLED can never bring a write tool back), then the service's own
 * configuration, then TOOLS_ENABLED, then TOOLS_DISABLED. What a given caller then sees is narrowed further by its scopes.
 */
export function exposureOf<Deps>(tool: AnyTool<Deps>, settings: ExposureSettings): Exposure {
  if (settings.READ_ONLY && !tool.annotations.readOnlyHint) {
    return { exposed: false, reason: `Tool ${tool.name} is disabled: this server runs in read-only mode.` };
  }
  const unavailable = settings.unavailable?.[tool.name];
  if (unavailable) return { exposed: false, reason: `Tool ${tool.name} is disabled: ${unavailable}` };
  if (settings.TOOLS_ENABLED.length > 0 && !settings.TOOLS_ENABLED.includes(tool.name)) {
    return { exposed: false, reason: `Tool ${tool.name} is not enabled on this server.` };
  }
  if (settings.TOOLS_DISABLED.includes(tool.name)) {
    return { exposed: false, reason: `Tool ${tool.name} is disabled on this server.` };
  }
  return { exposed: true };
}

export function visibleTo<Deps>(tool: AnyTool<Deps>, principal: Principal): boolean {
  return hasScopes(principal, tool.scopes);
}
