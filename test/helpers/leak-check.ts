/**
 * Loaded before every test file (`--import`, package.json): a test file that leaves something
 * open that keeps its process alive (a server or a socket, a child process, a worker thread, a
 * timer) fails, naming what it left.
 *
 * How: once the file's tests are done (a root `after` hook), an unref'd timer is set. A file that
 * closed everything exits before it fires, at no cost. Otherwise the timer fires: what is still
 * open beyond what was open before the file ran (the runner's own channel) is polled for up to
 * 10 s (closes under way, the file's own after() hooks), then reported, and the process ends with
 * exit code 1, which the runner counts as a failed file.
 */
import { after } from 'node:test';

/** Resource kinds (process.getActiveResourcesInfo) that mean a test left something open. */
const LEAKS = new Set([
  'TCPServerWrap',
  'TCPSocketWrap',
  'TCPWrap',
  'PipeWrap',
  'PipeServerWrap',
  'ProcessWrap',
  'Timeout',
  'Immediate',
  'UDPWrap',
  'MessagePort',
  'Worker',
]);

function count(kinds: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of kinds) if (LEAKS.has(k)) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

const baseline = count(process.getActiveResourcesInfo());

/**
 * Worker threads are not among the active resources (a running thread is its own event loop), so
 * each one the file starts is followed from its start to its exit.
 */
const threads = new Set<object>();
process.on('worker', (worker) => {
  threads.add(worker);
  worker.once('exit', () => threads.delete(worker));
});

/** What is open now beyond the baseline (not counting this check's own timer). */
function leaked(): string[] {
  const now = count(process.getActiveResourcesInfo());
  const out: string[] = [];
  for (const [kind, n] of now) {
    const extra = n - (baseline.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  if (threads.size > 0) out.push(`${threads.size} × worker thread`);
  return out;
}

const GRACE_MS = 10_000;

function check(since: number): void {
  const left = leaked();
  if (left.length === 0) return; // the last close landed: the process exits by itself
  if (Date.now() - since < GRACE_MS) {
    setTimeout(() => check(since), 250).unref();
    return;
  }
  report(left);
  process.exit(1);
}

function report(left: string[]): void {
  const file = process.argv[1] ?? 'the test file';
  process.stderr.write(
    `\nLEAK: ${file} left open after its tests: ${left.join(', ')} (process.getActiveResourcesInfo)\n`,
  );
}

if (process.env.LEAK_CHECK !== 'off') {
  after(() => {
    const since = Date.now();
    setTimeout(() => check(since), 1000).unref();
  });
  // an unref'd thread does not keep the process alive, so the timer above never fires: the
  // process is about to end with it still running
  process.on('beforeExit', () => {
    if (threads.size === 0) return;
    report([`${threads.size} × worker thread`]);
    process.exitCode = 1;
  });
}
