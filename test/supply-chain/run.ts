import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const SERVERS = ['database', 'files', 'notifications'] as const;
export type Server = (typeof SERVERS)[number];

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of scripts/supply-chain/*.mjs as CI does: a separate Node process, its exit code kept. */
export async function runScript(script: 'sbom.mjs' | 'licences.mjs', args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [`${repoRoot}scripts/supply-chain/${script}`, ...args],
      { cwd: repoRoot },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}
