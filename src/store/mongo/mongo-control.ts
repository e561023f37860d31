import type { Collection } from 'mongodb';
import type {
  ControlStore,
  NodeInfo,
  NodeRecord,
  SharedPoolState,
  StoredPoolState,
} from '../control-store.js';
import { activityText, parseActivity } from '../control-store.js';

export interface ControlDoc {
  _id: string;
  value: SharedPoolState;
  updated_at: Date;
  updated_by: string;
}

/** A node's document; its activity as JSON text, as the SQL adapters keep it. */
export type NodeDoc = Omit<NodeRecord, 'id' | 'activity'> & { _id: string; activity?: string | null };

/** `<collection>_control` (one document, `_id: "pool"`) and `<collection>_nodes` (one per node). */
export class MongoControl implements ControlStore {
  constructor(
    private readonly control: Collection<ControlDoc>,
    private readonly nodes: Collection<NodeDoc>,
  ) {}

  async getPoolState(): Promise<StoredPoolState | null> {
    const d = await this.control.findOne({ _id: 'pool' });
    return d ? { state: d.value, updated_at: d.updated_at, updated_by: d.updated_by } : null;
  }

  async setPoolState(state: SharedPoolState, by: string, now: Date): Promise<StoredPoolState> {
    await this.control.updateOne(
      { _id: 'pool' },
      { $set: { value: state, updated_at: now, updated_by: by } },
      { upsert: true },
    );
    return { state, updated_at: now, updated_by: by };
  }

  async heartbeat(node: NodeInfo, now: Date): Promise<void> {
    const { id, started_at, activity, ...rest } = node;
    await this.nodes.updateOne(
      { _id: id },
      { $set: { ...rest, activity: activityText(activity), last_seen: now }, $setOnInsert: { started_at } },
      { upsert: true },
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const docs = await this.nodes.find({}).sort({ _id: 1 }).toArray();
    return docs.map(({ _id, activity, ...rest }) => ({
      id: _id,
      ...rest,
      activity: parseActivity(activity),
    }));
  }

  async removeNodes(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.nodes.deleteMany({ _id: { $in: [...ids] } });
  }
}
