import { Worker } from 'node:worker_threads';

/**
 * A worker thread running the module `name` that sits next to the caller (`from`: its
 * `import.meta.url`): the `.js` file when built, the `.ts` file under tsx (tests), where the
 * thread registers tsx itself because the main thread's loader does not carry over to it.
 */
export function startThread(from: string, name: string, workerData: unknown): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), { workerData });
  const url = new URL(`./${name}.ts`, from);
  return new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`,
    { eval: true, workerData },
  );
}
