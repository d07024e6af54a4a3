import { lookup } from 'mime-types';

export interface DecodedContent {
  encoding: 'utf8' | 'base64';
  content: string;
  mimeType: string;
  /** Bytes actually returned: a text range never ends inside a UTF-8 character. */
  length: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Text for text, base64 for anything else. The bytes decide, not the name alone: a file is text
 * when it has no NUL byte and is valid UTF-8 (a range may cut the last character; it is then
 * returned one character shorter and the caller continues from `offset + length`).
 */
export function decodeContent(name: string, bytes: Buffer, atEnd: boolean): DecodedContent {
  const byName = lookup(name) || undefined;
  if (!bytes.includes(0)) {
    const maxCut = atEnd ? 0 : Math.min(3, bytes.length);
    for (let cut = 0; cut <= maxCut; cut += 1) {
      const text = tryUtf8(bytes.subarray(0, bytes.length - cut));
      if (text !== undefined) {
        const mimeType = byName && isTextual(byName) ? byName : 'text/plain';
        return { encoding: 'utf8', content: text, mimeType, length: bytes.length - cut };
      }
    }
  }
  return {
    encoding: 'base64',
    content: bytes.toString('base64'),
    mimeType: byName && !byName.startsWith('text/') ? byName : 'application/octet-stream',
    length: bytes.length,
  };
}

/** Is a file of this name and first bytes text (for grep, which skips binaries)? */
export function looksBinary(sample: Buffer): boolean {
  return sample.includes(0);
}

export function mimeTypeOf(name: string): string {
  return lookup(name) || 'application/octet-stream';
}

function isTextual(mimeType: string): boolean {
  return (
    mimeType.startsWith('text/') ||
    /\+(?:json|xml|yaml)$|^application\/(?:json|xml|javascript|yaml|x-yaml|toml|x-sh|sql)$/.test(mimeType)
  );
}

function tryUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
