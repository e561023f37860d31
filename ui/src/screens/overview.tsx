import { get, put } from '../api';
import {
  ActionButton,
  Badge,
  Bars,
  ErrorNote,
  formatAge,
  formatMs,
  Section,
  Time,
  useLoad,
  Table,
} from '../components';
import { href } from '../router';
import { STATUSES, type Me, type Overview, type PoolState } from '../types';

/** How often the overview reads the service again (while the tab is visible). */
const EVERY_MS = 5000;

function count(n: number, cap: number): string {
  return n > cap ? `more than ${cap.toLocaleString('en')}` : n.toLocaleString('en');
}

export function OverviewScreen(props: { me: Me }) {
  const { data, error, reload } = useLoad(() => get<Overview>('/overview'), [], EVERY_MS);
  const control = props.me.scopes.includes('pool:control');
  if (!data) return <ErrorNote error={error} />;
  const a = data.activity;
  // the last 5 minutes, the current one (partly counted) included
  const sum = (xs: number[]) => xs.slice(-5).reduce((x, y) => x + y, 0);
  const recentLate = a.lateness_p99_ms.slice(-5).filter((x): x is number => x !== null);
  const pool = data.pool;
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={error} />
      <p class="muted" aria-live="polite">
        Read at <Time at={data.at} />; again every {EVERY_MS / 1000} s. {a.nodes_reporting} node
        {a.nodes_reporting === 1 ? '' : 's'} reporting deliveries.
      </p>
      <div class="stats">
        <Stat label="Delivered (5 min)" value={sum(a.delivered).toLocaleString('en')} />
        <Stat label="Failed (5 min)" value={sum(a.failed).toLocaleString('en')} bad={sum(a.failed) > 0} />
        <Stat
          label="Lateness p99 (5 min)"
          value={recentLate.length ? `≤ ${formatMs(Math.max(...recentLate))}` : '—'}
        />
        <Stat
          label="Oldest due message waits"
          value={formatAge(data.oldest_due_age_seconds)}
          bad={data.oldest_due_age_seconds > 60}
        />
        <Stat label="Worker pool" value={pool?.status ?? '—'} bad={pool?.status === 'paused'} />
      </div>
      <Section title="Last 30 minutes">
        <div class="charts">
          <Bars label="Delivered per minute" values={a.delivered} kind="ok" />
          <Bars label="Failed per minute" values={a.failed} kind="bad" />
          <Bars label="Retried per minute" values={a.retried} kind="warn" />
          <Bars
            label="Lateness p99 per minute (ms)"
            values={a.lateness_p99_ms.map((x) => x ?? 0)}
            kind="warn"
            unit=" ms"
          />
        </div>
      </Section>
      <Section title="Messages by status">
        <Table
          caption={`Messages by status (each counted to ${data.count_cap.toLocaleString('en')})`}
          columns={['Status', { label: 'Messages', num: true }]}
        >
          {STATUSES.map((s) => (
            <tr key={s}>
              <td>
                <a href={href('messages', { status: s })}>
                  <Badge value={s} />
                </a>
              </td>
              <td class="num">{count(data.counts[s] ?? 0, data.count_cap)}</td>
            </tr>
          ))}
        </Table>
        <p class="muted">
          The earliest unsent message is due <Time at={data.oldest_due_at} />.
        </p>
      </Section>
      {pool ? <PoolSection pool={pool} control={control} onChange={reload} /> : null}
    </>
  );
}

function Stat(props: { label: string; value: string; bad?: boolean }) {
  return (
    <div class={`stat ${props.bad ? 'stat-bad' : ''}`}>
      <div class="stat-value">{props.value}</div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}

export function PoolSection(props: { pool: PoolState; control: boolean; onChange: () => void }) {
  const { pool } = props;
  return (
    <Section
      title="Worker pool"
      actions={
        props.control ? (
          pool.status === 'running' ? (
            <ActionButton
              label="Pause delivery"
              kind="danger"
              run={() => put('/worker-pool/state', { action: 'pause' })}
              done={props.onChange}
            />
          ) : (
            <ActionButton
              label="Resume delivery"
              kind="primary"
              run={() => put('/worker-pool/state', { action: 'start' })}
              done={props.onChange}
            />
          )
        ) : null
      }
    >
      <p>
        The cluster's pool is <Badge value={pool.status} />. Every node follows it.
      </p>
      <NodesTable nodes={pool.nodes} />
    </Section>
  );
}

export function NodesTable(props: { nodes: PoolState['nodes'] }) {
  return (
    <Table
      caption="Live nodes"
      columns={[
        'Node',
        'Role',
        'State',
        { label: 'In flight', num: true },
        'Version',
        'Started',
        'Last heartbeat',
      ]}
    >
      {props.nodes.map((n) => (
        <tr key={n.id}>
          <td>
            <code>{n.id}</code>
          </td>
          <td>{n.role}</td>
          <td>
            <Badge value={n.state} />
          </td>
          <td class="num">{n.in_flight}</td>
          <td>{n.version}</td>
          <td>
            <Time at={n.started_at} />
          </td>
          <td>
            <Time at={n.last_seen} />
          </td>
        </tr>
      ))}
    </Table>
  );
}
