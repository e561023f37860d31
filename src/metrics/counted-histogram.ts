import type { Metric, Registry } from 'prom-client';

/** One line of the exposition, as prom-client's metrics answer get() */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  /** buckets say "no exemplar" as prom-client's do */
  exemplar?: null;
}

/** What prom-client's registry reads from a metric's get() to write its text */
export interface HistogramValues {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: Sample[];
}

/**
 * An unlabelled histogram for the delivery path: an observation is a bucket found in a short
 * loop and three additions. prom-client's Histogram.observe() cost about 0.3 µs a call (a label
 * object, label checks, a hash, the bound found again), two per delivered message: most of what
 * metrics cost the delivery thread (docs/decisions.md, "Metrics"). prom-client's registry still
 * writes the exposition: this answers `get()` in the shape its Histogram does, and
 * test/metrics.test.ts checks the text is the same as its Histogram's for the same values.
 */
export class CountedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly bounds: Float64Array;
  /** per bucket (not cumulative), the last one past every bound */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(o: { name: string; help: string; buckets: readonly number[]; registry: Registry }) {
    this.name = o.name;
    this.help = o.help;
    this.bounds = Float64Array.from([...o.buckets].sort((a, b) => a - b));
    this.counts = new Float64Array(this.bounds.length + 1);
    // the registry reads name, get() and reset(): the rest of prom-client's Metric is not asked of it
    o.registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }

  get(): Promise<HistogramValues> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i] as number;
      values.push({
        labels: { le: this.bounds[i] as number },
        value: acc,
        metricName: bucket,
        exemplar: null,
      });
    }
    values.push(
      { labels: { le: '+Inf' }, value: this.count, metricName: bucket, exemplar: null },
      { labels: {}, value: this.sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.count, metricName: `${this.name}_count` },
    );
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
