#!/usr/bin/env node
// The licence gate over the servers' SBOMs (scripts/supply-chain/sbom.mjs writes them).
//
//   node scripts/supply-chain/licences.mjs [--exceptions file] [dist/sbom/database.cdx.json …]
//
// Policy, for what ships inside the images (runtime dependencies only; dev tools never reach a user):
// - permissive licences pass;
// - weak copyleft (LGPL, MPL, EPL, CDDL, CC-BY-SA) passes with a note: we ship those packages unmodified, as
//   separate files a user can replace, which is what their copyleft asks of us; a note makes a reviewer look
//   before anyone patches or bundles one;
// - strong and network copyleft (GPL, AGPL, SSPL, EUPL, OSL, RPL, CPAL) and source-available or non-commercial
//   licences (BUSL, Elastic, CC-BY-NC/ND) fail: they would put the whole image, or the service behind it, under
//   their terms;
// - a missing, unparsable or unlisted licence fails, since nobody has read it yet.
// Any failure can be waived by a reviewed entry in the exceptions file, which names the package, its version (or
// "*") and the licence text it declares, so a licence change invalidates the waiver. Our own workspaces (private
// packages, which npm never publishes) are not checked.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const defaultExceptions = join(repoRoot, 'scripts/supply-chain/licence-exceptions.json');

const PERMISSIVE = new Set([
  '0BSD',
  'Apache-2.0',
  'BlueOak-1.0.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'CC-BY-3.0',
  'CC-BY-4.0',
  'CC0-1.0',
  'ISC',
  'MIT',
  'MIT-0',
  'PSF-2.0',
  'Python-2.0',
  'Unicode-3.0',
  'Unicode-DFS-2016',
  'Unlicense',
  'WTFPL',
  'X11',
  'Zlib',
]);
const WEAK_COPYLEFT = ['LGPL-', 'MPL-', 'EPL-', 'CDDL-', 'CC-BY-SA-'];
const STRONG_COPYLEFT = [
  'GPL-',
  'AGPL-',
  'SSPL-',
  'EUPL-',
  'OSL-',
  'RPL-',
  'CPAL-',
  'BUSL-',
  'Elastic-',
  'CC-BY-NC',
  'CC-BY-ND',
];

// Worst last: an AND takes the worst of its terms, an OR the best (we may pick either licence).
const RANK = { permissive: 0, weak: 1, unknown: 2, strong: 3 };

function classifyId(id) {
  const bare = id.replace(/\+$/, '');
  if (PERMISSIVE.has(bare)) return 'permissive';
  if (STRONG_COPYLEFT.some((prefix) => bare.startsWith(prefix))) return 'strong';
  if (WEAK_COPYLEFT.some((prefix) => bare.startsWith(prefix))) return 'weak';
  return 'unknown';
}

/**
 * Classifies an SPDX expression ("MIT", "(MIT OR GPL-3.0-only)", "Apache-2.0 WITH LLVM-exception"). A few lines of
 * recursive descent rather than a dependency: the check must run before `npm ci`, on the SBOM alone.
 */
export function classifyExpression(expression) {
  const tokens = expression.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const fail = () => {
    throw new Error(`not an SPDX expression: ${expression}`);
  };
  const worst = (a, b) => (RANK[a] >= RANK[b] ? a : b);
  const best = (a, b) => (RANK[a] <= RANK[b] ? a : b);
  const atom = () => {
    const token = tokens[at++];
    if (token === '(') {
      const inner = or();
      if (tokens[at++] !== ')') fail();
      return inner;
    }
    if (!token || token === ')' || /^(AND|OR|WITH)$/.test(token)) fail();
    // An exception (WITH Classpath-exception-2.0, …) only ever loosens; judge the licence it modifies.
    if (tokens[at] === 'WITH') at += 2;
    return classifyId(token);
  };
  const and = () => {
    let verdict = atom();
    while (tokens[at] === 'AND') {
      at++;
      verdict = worst(verdict, atom());
    }
    return verdict;
  };
  const or = () => {
    let verdict = and();
    while (tokens[at] === 'OR') {
      at++;
      verdict = best(verdict, and());
    }
    return verdict;
  };
  try {
    const verdict = or();
    if (at !== tokens.length) fail();
    return verdict;
  } catch {
    return 'unknown';
  }
}

/** The licence text a CycloneDX component declares, or undefined. */
export function declaredLicence(component) {
  const choices = (component.licenses ?? []).map((choice) =>
    choice.expression ? choice.expression : (choice.license?.id ?? choice.license?.name),
  );
  const present = choices.filter(Boolean);
  if (present.length === 0) return undefined;
  // Several entries in `licenses` all apply at once.
  return present.length === 1 ? present[0] : present.map((text) => `(${text})`).join(' AND ');
}

/** The shortest dependency path from the SBOM's subject to `ref`, for "who pulls this in". */
function pathTo(bom, ref) {
  const edges = new Map(bom.dependencies?.map((entry) => [entry.ref, entry.dependsOn ?? []]) ?? []);
  const start = bom.metadata?.component?.['bom-ref'];
  const previous = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift();
    if (current === ref) break;
    for (const next of edges.get(current) ?? []) {
      if (!previous.has(next)) {
        previous.set(next, current);
        queue.push(next);
      }
    }
  }
  if (!previous.has(ref)) return [ref];
  const path = [];
  for (let at = ref; at !== undefined; at = previous.get(at)) path.unshift(at);
  return path;
}

const fullName = (component) => (component.group ? `${component.group}/${component.name}` : component.name);

/** The server an SBOM is about: the one workspace the subject (npm's project root, the repository) depends on. */
function serviceOf(bom) {
  const subject = bom.metadata?.component?.['bom-ref'];
  const direct = bom.dependencies?.find((entry) => entry.ref === subject)?.dependsOn ?? [];
  const server = bom.components?.find((component) => direct.includes(component['bom-ref']) && isPrivate(component));
  return server ? fullName(server) : (bom.metadata?.component?.name ?? 'unknown service');
}

const isPrivate = (component) =>
  (component.properties ?? []).some(
    (property) => property.name === 'cdx:npm:package:private' && property.value === 'true',
  );

/**
 * Checks one SBOM. Returns {service, checked, counts, failures, notes, excepted}; each finding has the component,
 * its licence, the verdict and the dependency path that pulls it in.
 */
export function checkBom(bom, exceptions = []) {
  const result = {
    service: serviceOf(bom),
    checked: 0,
    counts: { permissive: 0, weak: 0 },
    failures: [],
    notes: [],
    excepted: [],
  };
  // bom-refs are cyclonedx-npm's install paths; a reader wants name@version.
  const labels = new Map((bom.components ?? []).map((item) => [item['bom-ref'], `${fullName(item)}@${item.version}`]));
  // npm may install one version in several places; each is a component of its own, checked once.
  const seen = new Set();
  for (const component of bom.components ?? []) {
    if (isPrivate(component)) continue;
    const id = `${fullName(component)}@${component.version}`;
    if (seen.has(id)) continue;
    seen.add(id);
    result.checked++;
    const licence = declaredLicence(component);
    const verdict = licence ? classifyExpression(licence) : 'unknown';
    const finding = {
      name: fullName(component),
      version: component.version,
      licence: licence ?? '(none declared)',
      verdict,
      // From the server down: the subject itself (the repository) says nothing.
      path: pathTo(bom, component['bom-ref'])
        .filter((ref) => ref !== bom.metadata?.component?.['bom-ref'])
        .map((ref) => labels.get(ref) ?? ref),
    };
    if (verdict === 'permissive') result.counts.permissive++;
    else if (verdict === 'weak') {
      result.counts.weak++;
      result.notes.push(finding);
    } else {
      const waiver = exceptions.find(
        (entry) =>
          entry.package === finding.name &&
          (entry.version === '*' || entry.version === component.version) &&
          entry.licence === finding.licence,
      );
      if (waiver) result.excepted.push({ ...finding, reason: waiver.reason });
      else result.failures.push(finding);
    }
  }
  return result;
}

export function readExceptions(file) {
  const { exceptions } = JSON.parse(readFileSync(file, 'utf8'));
  for (const entry of exceptions) {
    for (const field of ['package', 'version', 'licence', 'reason']) {
      if (typeof entry[field] !== 'string' || entry[field] === '')
        throw new Error(`${file}: every exception needs a non-empty "${field}": ${JSON.stringify(entry)}`);
    }
  }
  return exceptions;
}

const describe = {
  strong: 'strong copyleft or not open source',
  unknown: 'unknown or missing licence',
  weak: 'weak copyleft',
};

function main() {
  const { values, positionals } = parseArgs({
    options: { exceptions: { type: 'string', default: defaultExceptions } },
    allowPositionals: true,
  });
  const files =
    positionals.length > 0
      ? positionals
      : ['database', 'files', 'notifications'].map((service) => join(repoRoot, `dist/sbom/${service}.cdx.json`));
  for (const file of files) {
    if (!existsSync(file)) throw new Error(`${file} does not exist: run \`npm run sbom\` first`);
  }
  const exceptions = readExceptions(values.exceptions);
  const used = new Set();
  let failed = false;
  for (const file of files) {
    const result = checkBom(JSON.parse(readFileSync(file, 'utf8')), exceptions);
    const { service, checked, counts, failures, notes, excepted } = result;
    console.log(
      `${service}: ${checked} third-party packages, ${counts.permissive} permissive, ${counts.weak} weak copyleft, ` +
        `${excepted.length} reviewed exceptions, ${failures.length} refused`,
    );
    const line = (finding) =>
      `${finding.name}@${finding.version}: ${finding.licence} (${describe[finding.verdict]}), ` +
      `pulled in by ${finding.path.join(' > ')}`;
    for (const finding of notes) console.log(`  note      ${line(finding)}`);
    for (const finding of excepted) {
      used.add(`${finding.name}@${finding.licence}`);
      console.log(`  excepted  ${line(finding)}: ${finding.reason}`);
    }
    for (const finding of failures) console.error(`  REFUSED   ${line(finding)}`);
    failed ||= failures.length > 0;
  }
  for (const entry of exceptions) {
    if (!used.has(`${entry.package}@${entry.licence}`))
      console.log(`stale exception (matches nothing; remove it): ${entry.package}@${entry.version} ${entry.licence}`);
  }
  if (failed) {
    console.error(
      `Licence check failed: replace the refused packages, or, after review, add them to ${values.exceptions}.`,
    );
    process.exitCode = 1;
  } else console.log('Licence check passed.');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
