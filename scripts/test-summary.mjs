#!/usr/bin/env node
// Adds up the JSON reports every package's vitest run wrote, and prints one closing line for the repo.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { workspaces } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const { globSync } = await import('node:fs');
const folders = workspaces.flatMap((pattern) => globSync(pattern, { cwd: root }));

const total = { passed: 0, failed: 0, skipped: 0 };
for (const folder of folders) {
  const report = `${root}${folder}/test-results.json`;
  if (!existsSync(report)) continue;
  const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = JSON.parse(readFileSync(report, 'utf8'));
  total.passed += numPassedTests;
  total.failed += numFailedTests;
  total.skipped += numPendingTests + numTodoTests;
  console.log(`${folder}: ${numPassedTests} passed, ${numFailedTests} failed`);
}
console.log(`Tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed > 0 || total.passed === 0 ? 1 : 0);
