import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI entry next to this file: main.ts under tsx, main.js when built. */
function cliCommand(): string[] {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const cli = fileURLToPath(new URL(`../cli/main${ext}`, import.meta.url));
  return ext === '.ts' ? ['--import', 'tsx', cli] : [cli];
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** peak resident set size in MB (VmHWM), read while the process runs */
  peakRssMb(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `message-scheduler <args>` as its own process with only the given store variables. */
export function startCli(args: string[], env: Record<string, string>): Proc {
  const base = { ...process.env };
  for (const k of ['MONGODB_URI', 'DATABASE_URL', 'REDIS_URI', 'SQLITE_PATH', 'DATABASE_SCHEMA'])
    delete base[k];
  // MS_BENCH_PROFILE=dir: CPU profiles of the service processes (node --cpu-prof)
  const prof =
    process.env.MS_BENCH_PROFILE && args[0] === 'serve'
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.MS_BENCH_PROFILE}`]
      : [];
  const child = spawn(process.execPath, [...prof, ...cliCommand(), ...args], {
    env: { ...base, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    child,
    output: () => out,
    peakRssMb() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m?.[1] ? Number(m[1]) / 1024 : NaN;
      } catch {
        return NaN;
      }
    },
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}

export async function waitUntil(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 25,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`bench: timed out after ${timeoutMs}ms waiting for ${what}`);
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
