import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI entry next to this file: main.ts under tsx, main.js when built. */
function cliCommand(): string[] {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  const cli = fileURLToPath(new URL(`../src/cli/main${ext}`, import.meta.url));
  return ext === '.ts' ? ['--import', 'tsx', cli] : [cli];
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** peak resident set size in MB (VmHWM), read while the process runs */
  peakRssMb(): number;
  /** CPU time used so far (user + system), in ms; NaN once it has exited */
  cpuMs(): number;
  /** the same for its main thread alone (the event loop that claims, stores and sends) */
  mainThreadCpuMs(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The V8 flags the service runs with, as the bin's shebang, `npm start` and the Dockerfile
 * give them: a 16 MB young generation (docs/decisions.md, "Memory").
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=16'];

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
  // MS_BENCH_NODE_FLAGS: V8 flags to try on the service processes, added after the shipped ones
  const extra = args[0] === 'serve' ? (process.env.MS_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean) : [];
  const child = spawn(
    process.execPath,
    [...SERVICE_NODE_FLAGS, ...extra, ...prof, ...cliCommand(), ...args],
    {
      env: { ...base, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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
    cpuMs() {
      return processCpuMs(child.pid);
    },
    mainThreadCpuMs() {
      return processCpuMs(child.pid, child.pid);
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

/** utime + stime of a live process from /proc (Linux), in ms: all its threads, or thread `tid` only. */
export function processCpuMs(pid: number | undefined, tid?: number): number {
  try {
    const stat = readFileSync(
      tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
      'utf8',
    );
    // fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU used so far by the database servers the services script runs (PostgreSQL
 * backends; FerretDB and the PostgreSQL behind it), in ms. SQLite runs inside
 * the service, so its cost is already in the service's own figure.
 */
export function dbServerCpuMs(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm === 'postgres' || comm.startsWith('ferretdb')) total += processCpuMs(Number(pid));
    } catch {
      // it exited meanwhile
    }
  }
  return total;
}

// USER_HZ: 100 on every Linux this runs on
const CLOCK_TICKS = 100;

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

/** Busy and total CPU time of the whole machine so far (/proc/stat, all cores), in clock ticks. */
export function machineCpuTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}
