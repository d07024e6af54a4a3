/**
 * Where a server's time goes, from a V8 CPU profile (`--cpu-prof`): the samples inside one measured
 * window, as µs per call, by function (self time) and by cost group.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

/** The `.cpuprofile` format: a call tree, and which node each sample landed in, with time deltas in µs. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly calls: number;
  /** Sampled time not spent waiting in the event loop, per call. */
  readonly busyUsPerCall: number;
  readonly idleUsPerCall: number;
  readonly groups: readonly { readonly group: string; readonly usPerCall: number; readonly share: number }[];
  readonly functions: readonly { readonly name: string; readonly usPerCall: number }[];
}

/** Native bindings of node:fs: their time is the fs call itself (and what the thread waited for around it). */
const FS_BINDINGS = new Set([
  'openFileHandle',
  'open',
  'read',
  'fstat',
  'close',
  'readlink',
  'realpath',
  'lstat',
  'stat',
  'readdir',
  'readFileUtf8',
]);

function packageOf(url: string): string {
  const dependency = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (dependency?.[1]) return dependency[1];
  const own = url.match(/\/((?:libs|services)\/[^/]+)\//);
  if (own?.[1]) return own[1];
  return url;
}

/** The group of a package frame: what a performance change would target. */
function groupOfPackage(name: string): string {
  if (name === 'zod') return 'zod validation';
  if (name.startsWith('@opentelemetry/') || name === 'libs/telemetry')
    return 'span/telemetry (OpenTelemetry, libs/telemetry)';
  if (name === 'prom-client') return 'metrics (prom-client)';
  if (['pino', 'sonic-boom', 'pino-std-serializers'].includes(name)) return 'logging (pino)';
  if (name === 'cockatiel') return 'cockatiel (timeout)';
  if (name === '@modelcontextprotocol/server' || name === '@modelcontextprotocol/sdk')
    return 'MCP SDK request handling';
  if (name === '@modelcontextprotocol/server-filesystem') return 'reference server code';
  if (name === 'picomatch') return 'picomatch (deny globs)';
  if (name.startsWith('libs/') || name.startsWith('services/')) return `Flotilla ${name}`;
  return `other: ${name}`;
}

/**
 * A sample's group. Node internals and natives are charged to the first package frame above them
 * (an AbortSignal made by cockatiel is cockatiel's), except node:fs (its own groups), the sync pipe
 * write of stdout, GC and V8's `(program)`. JSON.parse and JSON.stringify have no frames of their
 * own: they show in the function that calls them, so the SDK's one-line (de)serialisers are named.
 */
function groupOf(stack: readonly CallFrame[]): string {
  const [leaf] = stack;
  if (!leaf) return '(empty)';
  if (leaf.functionName === '(garbage collector)') return 'GC (main thread)';
  if (leaf.functionName === '(program)') return 'V8 (program)';
  if (leaf.url === '' && leaf.functionName === 'writeUtf8String') return 'stdout/socket write (syscall)';
  if (leaf.url === '' && FS_BINDINGS.has(leaf.functionName)) return 'fs: native bindings';
  if (/modelcontextprotocol/.test(leaf.url) && leaf.functionName === 'serializeMessage')
    return 'JSON.stringify (answer)';
  if (/modelcontextprotocol/.test(leaf.url) && leaf.functionName === 'deserializeMessage')
    return 'JSON.parse (request, + message schema)';
  let inFs = false;
  for (const frame of stack) {
    if (/^node:(internal\/)?fs/.test(frame.url)) inFs = true;
    if (frame.url === '' || frame.url.startsWith('node:')) continue;
    return inFs ? 'fs: node:fs/promises JS' : groupOfPackage(packageOf(frame.url));
  }
  return inFs ? 'fs: node:fs/promises JS' : `node internals (${leaf.url || 'native'})`;
}

function frameName(frame: CallFrame): string {
  const where = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/((?:libs|services)\/)/, '$1');
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

/**
 * Sums the samples taken between `startUs` and `endUs` (the profile's clock is CLOCK_MONOTONIC in µs,
 * the same as process.hrtime in the benchmark) and divides by `calls`.
 */
export function summariseProfile(
  profile: CpuProfile,
  window: { readonly startUs: number; readonly endUs: number },
  calls: number,
  top = 30,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let time = profile.startTime;
  for (const [index, id] of profile.samples.entries()) {
    time += profile.timeDeltas[index] ?? 0;
    // A sample stands for the time until the next one.
    const duration = profile.timeDeltas[index + 1] ?? 0;
    if (time < window.startUs || time > window.endUs) continue;
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += duration;
      continue;
    }
    busy += duration;
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame && frame.functionName !== '(root)') stack.push(frame);
    }
    const group = groupOf(stack);
    groups.set(group, (groups.get(group) ?? 0) + duration);
    const name = frameName(node.callFrame);
    functions.set(name, (functions.get(name) ?? 0) + duration);
  }
  const perCall = (us: number) => Math.round((us / calls) * 10) / 10;
  return {
    calls,
    busyUsPerCall: perCall(busy),
    idleUsPerCall: perCall(idle),
    groups: [...groups]
      .sort((a, b) => b[1] - a[1])
      .map(([group, us]) => ({ group, usPerCall: perCall(us), share: busy ? Math.round((us / busy) * 1000) / 10 : 0 })),
    functions: [...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, usPerCall: perCall(us) })),
  };
}
