/**
 * Keeps the documentation true to the repository (`npm run docs:check`, CI): in README.md and
 * docs/*.md, every relative link names a file that exists (and a heading of it, for `#anchor`), and
 * every command quoted in code names something that exists: `make X` a Makefile target, `npm run X`
 * a package.json script, `message-scheduler X [Y]` a command of the CLI's usage text.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file's headings (outside code), duplicates numbered as GitHub does. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const m = !fence && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Prose and code apart: links are read from prose, commands from code (fenced, and inline spans, which may wrap). */
function split(text: string): { prose: string; code: string[] } {
  const code: string[] = [];
  let prose = '';
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) {
      fence = !fence;
      continue;
    }
    if (fence) code.push(line);
    else prose += `${line}\n`;
  }
  prose = prose.replace(/`[^`]*`/g, (m) => (code.push(m.slice(1, -1).replace(/\s+/g, ' ')), ''));
  return { prose, code };
}

const problems: string[] = [];

const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
const targets = new Set([...makefile.matchAll(/^([A-Za-z0-9_.-]+):/gm)].map((m) => m[1]));
const scripts = new Set(
  Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts),
);
const usage = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'help'], {
  cwd: ROOT,
  encoding: 'utf8',
});
/** `keys create`, `destinations list`, `serve`, …: the first words of each command line of the usage. */
const commands = new Set<string>();
for (const m of usage.matchAll(/^ {2}([a-z][a-z-]*(?: [a-z][a-z-]*)?)/gm)) {
  const words = (m[1] ?? '').split(' ');
  commands.add(words[0] ?? '');
  if (words[1]) commands.add(`${words[0]} ${words[1]}`);
}
const NPM_BUILTINS = new Set([
  'ci',
  'install',
  'test',
  'start',
  'run',
  'i',
  'exec',
  'pack',
  'view',
  'publish',
]);

for (const file of FILES) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const { prose, code } = split(text);
  for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
    const [path = '', anchor] = target.split('#');
    const abs = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), decodeURIComponent(path));
    if (!existsSync(abs)) {
      problems.push(`${file}: link to ${target}: ${relative(ROOT, abs)} does not exist`);
      continue;
    }
    if (
      anchor &&
      abs.endsWith('.md') &&
      statSync(abs).isFile() &&
      !anchors(readFileSync(abs, 'utf8')).has(anchor)
    ) {
      problems.push(`${file}: link to ${target}: no heading #${anchor} in ${relative(ROOT, abs)}`);
    }
  }
  for (const quoted of code) {
    // a shell comment is prose: `make run   # installs the npm packages`
    const snippet = quoted.replace(/(^|\s)#.*$/, '');
    for (const m of snippet.matchAll(/(?:^|[\s;&|(])make\s+([a-z][a-z0-9_-]*)/g)) {
      if (!targets.has(m[1])) problems.push(`${file}: \`make ${m[1]}\`: no such Makefile target`);
    }
    for (const m of snippet.matchAll(/(?:^|[\s;&|(])npm\s+(run\s+)?([a-z][a-z0-9:_-]*)/g)) {
      const name = m[2] ?? '';
      if (m[1] ? !scripts.has(name) : !NPM_BUILTINS.has(name) && !scripts.has(name)) {
        problems.push(`${file}: \`npm ${m[1] ?? ''}${name}\`: no such package.json script`);
      }
    }
    for (const m of snippet.matchAll(
      /(?:^|[\s;&|(])(?:message-scheduler|node dist\/src\/cli\/main\.js)\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?/g,
    )) {
      const [cmd = '', sub] = [m[1], m[2]];
      if (!commands.has(cmd)) problems.push(`${file}: \`message-scheduler ${cmd}\`: no such CLI command`);
      else if (sub && [...commands].some((c) => c.startsWith(`${cmd} `)) && !commands.has(`${cmd} ${sub}`)) {
        problems.push(`${file}: \`message-scheduler ${cmd} ${sub}\`: no such CLI command`);
      }
    }
  }
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n${problems.length} problem(s) in the documentation\n`);
  process.exit(1);
}
process.stdout.write(`docs: ${FILES.length} files, every relative link and quoted command is valid\n`);
