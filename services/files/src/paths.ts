import picomatch from 'picomatch';

/** Linux's limits: NAME_MAX bytes per name, PATH_MAX bytes per path. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

/** Names the workspace writes for itself (atomic-write temporaries): never addressable, never listed. */
export const TEMP_PREFIX = '.flotilla-tmp-';

/** Why a path was refused: the bounded label of `flotilla_files_refusals_total{reason}`. */
export type RefusalReason =
  | 'invalid_path'
  | 'outside_root'
  | 'symlink'
  | 'denied'
  | 'too_large'
  | 'quota'
  | 'conflict'
  | 'precondition';

/** A refused path or operation; the workspace turns it into a tool error and counts it. */
export class PathRefusal extends Error {
  override name = 'PathRefusal';
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/** A path the workspace may act on: NFC-normalised names below the tenant root, `[]` being the root. */
export interface WorkspacePath {
  /** `a/b/c.txt`, or `` for the root. What callers see, and what deny-globs match. */
  readonly relative: string;
  readonly segments: readonly string[];
}

// Percent-encoded dot, slash, backslash or NUL: a client that encodes them is trying to smuggle them past a check.
const ENCODED_SEPARATOR = /%(?:2e|2f|5c|00)/i;
// C0 and C1 control characters and DEL: terminal escapes and log injection, never a real document name.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Parses what a model typed into a workspace path, refusing anything that is not plainly a name
 * below the root. Nothing is resolved against the disk here; symbolic links are the workspace's job.
 */
export function parseWorkspacePath(raw: string): WorkspacePath {
  if (raw.includes('\0')) throw invalid('it contains a NUL byte');
  if (CONTROL.test(raw)) throw invalid('it contains a control character');
  if (raw.includes('\\')) throw invalid('it contains a backslash; separate directories with /');
  if (ENCODED_SEPARATOR.test(raw)) {
    throw invalid('it contains a percent-encoded dot, slash, backslash or NUL; write the plain name');
  }
  // One file, one name: composed and decomposed spellings of "é" must not be two different files.
  const normalised = raw.normalize('NFC');
  if (Buffer.byteLength(normalised, 'utf8') > MAX_PATH_BYTES) {
    throw invalid(`it is longer than ${MAX_PATH_BYTES} bytes`);
  }
  if (normalised.startsWith('/') || normalised.startsWith('~')) {
    throw invalid('it is absolute; give a path relative to the workspace root, e.g. docs/notes.md');
  }
  const segments: string[] = [];
  for (const segment of normalised.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalid('it contains ..; paths cannot leave the workspace');
    if (Buffer.byteLength(segment, 'utf8') > MAX_NAME_BYTES) {
      throw invalid(`a name in it is longer than ${MAX_NAME_BYTES} bytes`);
    }
    if (segment.startsWith(TEMP_PREFIX)) throw invalid('names starting with .flotilla-tmp- are reserved');
    segments.push(segment);
  }
  return { relative: segments.join('/'), segments };
}

/** The parent of a non-root path and its last name. */
export function splitName(path: WorkspacePath): { parent: WorkspacePath; name: string } {
  const name = path.segments.at(-1);
  if (name === undefined) throw invalid('it names the workspace root itself');
  const segments = path.segments.slice(0, -1);
  return { parent: { relative: segments.join('/'), segments }, name };
}

export function childPath(parent: WorkspacePath, name: string): WorkspacePath {
  const segments = [...parent.segments, name];
  return { relative: segments.join('/'), segments };
}

/**
 * Operator deny-globs (FILES_DENY_GLOBS). A path is denied when it or any of its ancestors matches,
 * so the default `.git` glob also hides each `.git` itself and everything a link inside the tree points into.
 */
export class DenyList {
  private readonly matches: (path: string) => boolean;

  constructor(readonly globs: readonly string[]) {
    // picomatch's own matcher for a list tests each glob in turn and builds a result object per test;
    // a listing asks once per entry (a fifth of a 1,000-entry list_directory's CPU). The same verdict,
    // as picomatch gives it: the path equals a glob as written, or one of the globs' regexes matches.
    const literal = new Set(globs);
    const sources = globs.map((glob) => `(?:${picomatch.makeRe(glob, { dot: true }).source})`);
    const anyGlob = new RegExp(sources.join('|'));
    // The regex costs most of a listing's deny checks; a cheap substring test rules out nearly every
    // entry first. It applies only when every glob has a plain segment that any match must contain.
    // A path equal to a glob as written contains that glob's plain segment too, so it passes the screen.
    const needles = globs.map(requiredText);
    const screen = needles.every((needle) => needle !== undefined)
      ? new RegExp(needles.map((needle) => needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'))
      : undefined;
    this.matches = (path) =>
      path !== '' &&
      globs.length > 0 &&
      (screen === undefined || screen.test(path)) &&
      (literal.has(path) || anyGlob.test(path));
  }

  isDenied(relative: string): boolean {
    if (relative === '') return false;
    const segments = relative.split('/');
    for (let end = 1; end <= segments.length; end += 1) {
      if (this.matches(segments.slice(0, end).join('/'))) return true;
    }
    return false;
  }

  /**
   * The same verdict for an entry whose ancestors are already known to be allowed (a listing or a
   * walk that only descends into allowed directories): one match instead of one per ancestor.
   */
  isDeniedEntry(parentRelative: string, name: string): boolean {
    return this.matches(parentRelative === '' ? name : `${parentRelative}/${name}`);
  }

  check(path: WorkspacePath): void {
    if (this.isDenied(path.relative)) {
      throw new PathRefusal('denied', `The path ${JSON.stringify(path.relative)} is not accessible on this server.`);
    }
  }
}

/** A glob's characters that match only themselves: none of picomatch's wildcards, classes, braces, extglobs or escapes. */
const PLAIN_SEGMENT = /^[^*?[\]{}()!+@|\\]+$/;

/**
 * Text that every path matching `glob` contains, or undefined if there is none we can be sure of: for a
 * glob whose segments are each `*`, `**` or plain text, its longest plain segment (a plain segment
 * matches exactly itself, whatever the wildcards around it match).
 */
function requiredText(glob: string): string | undefined {
  const segments = glob.split('/');
  if (!segments.every((segment) => segment === '*' || segment === '**' || PLAIN_SEGMENT.test(segment)))
    return undefined;
  const plain = segments.filter((segment) => segment !== '*' && segment !== '**');
  return plain.sort((a, b) => b.length - a.length)[0];
}

/** Exact containment: `/srv/a_evil` is not inside `/srv/a`, because the prefix must end at a separator. */
export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function invalid(why: string): PathRefusal {
  return new PathRefusal('invalid_path', `The path was refused because ${why}.`);
}
