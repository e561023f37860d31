/** Service processes for the multi-node benchmarks: started on their own ports, driven over HTTP. */
import { getJson, startCli, waitUntil, type Proc } from './processes.js';

export interface Node {
  proc: Proc;
  url: string;
}

/** Starts one `serve` process per entry of `envs`, on ports from `firstPort` up, and waits until each is ready. */
export async function startNodes(firstPort: number, envs: Record<string, string>[]): Promise<Node[]> {
  const nodes = envs.map((env, i) => {
    const port = firstPort + i;
    return {
      url: `http://127.0.0.1:${port}`,
      proc: startCli(['serve'], { ...env, PORT: String(port), HOST: '127.0.0.1' }),
    };
  });
  try {
    for (const node of nodes) {
      await waitUntil(
        async () => (await fetch(`${node.url}/readyz`)).ok,
        60_000,
        `a node to start: ${node.proc.output()}`,
      );
    }
  } catch (err) {
    await stopNodes(nodes);
    throw err;
  }
  return nodes;
}

export async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((x) => x.proc.stop()));
}

/** `PUT /worker-pool/state` on one node: the cluster's state, stored. */
export async function setState(node: Node, action: 'start' | 'pause'): Promise<void> {
  await getJson(`${node.url}/worker-pool/state`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
}
