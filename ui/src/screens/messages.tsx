import { useState } from 'preact/hooks';
import { call, linkParam, post, query } from '../api';
import { ActionButton, Badge, ErrorNote, Section, Time, useLoad, UserText, Table } from '../components';
import { go, href } from '../router';
import { STATUSES, type Me, type Message } from '../types';

const PAGE = 50;
const FILTERS = ['status', 'destination', 'group_id', 'recipient', 'from', 'to', 'idempotency_key'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

/** `2026-12-06T14:03` (an <input type=datetime-local>, the browser's zone) from an RFC 3339 time. */
function localInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function MessagesScreen(props: { me: Me; query: URLSearchParams }) {
  const filters: Filters = {};
  for (const k of FILTERS) {
    const v = props.query.get(k);
    if (v) filters[k] = v;
  }
  const cursor = props.query.get('cursor') ?? undefined;
  const key = JSON.stringify([filters, cursor]);
  const { data, error, reload } = useLoad(
    () => call<Message[]>('GET', `/messages${query({ ...filters, cursor, limit: PAGE })}`),
    [key],
  );
  const next = linkParam(data?.next ?? null, 'cursor');
  const canWrite = props.me.scopes.includes('messages:write');
  const retryable =
    canWrite &&
    !filters.idempotency_key &&
    (!filters.status || filters.status === 'failed' || filters.status === 'unknown');
  return (
    <>
      <h1>Messages</h1>
      <FilterForm filters={filters} key={JSON.stringify(filters)} />
      {retryable ? <BulkRetry filters={filters} onDone={reload} /> : null}
      <Section title={cursor ? 'Messages (a later page)' : 'Messages'}>
        <ErrorNote error={error} />
        {data ? (
          data.data.length === 0 ? (
            <p>No message matches.</p>
          ) : (
            <Table
              caption="Messages matching the filters"
              columns={[
                'Message',
                'Status',
                'Recipient',
                'Content',
                'Destination',
                'Created',
                { label: 'Attempts', num: true },
                'Last error',
              ]}
            >
              {data.data.map((m) => (
                <tr key={m.id}>
                  <td>
                    <a href={href(`messages/${m.id}`)}>
                      <code>{m.id}</code>
                    </a>
                  </td>
                  <td>
                    <Badge value={m.status} />
                  </td>
                  <td>
                    <UserText text={m.recipient_phone_number} />
                  </td>
                  <td class="clip">
                    <UserText text={m.content} />
                  </td>
                  <td>
                    <UserText text={m.destination} />
                  </td>
                  <td>
                    <Time at={m.created_at} />
                  </td>
                  <td class="num">{m.attempts}</td>
                  <td class="clip">
                    <UserText text={m.last_error} />
                  </td>
                </tr>
              ))}
            </Table>
          )
        ) : null}
        <nav class="pager" aria-label="Pages">
          {cursor ? <a href={href('messages', filters)}>First page</a> : null}
          {next ? (
            <a href={href('messages', { ...filters, cursor: next })} rel="next">
              Next page
            </a>
          ) : null}
        </nav>
      </Section>
    </>
  );
}

function FilterForm(props: { filters: Filters }) {
  const f = props.filters;
  const [find, setFind] = useState(f.idempotency_key ?? '');
  return (
    <form
      class="card filters"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault();
        const form = new FormData(e.currentTarget as HTMLFormElement);
        const value = (k: string) => String(form.get(k) ?? '').trim() || undefined;
        const wanted = find.trim();
        // a message id goes to its page; anything else is looked up as an Idempotency-Key
        if (/^[0-9a-f]{24}$/.test(wanted)) return go(href(`messages/${wanted}`));
        go(
          href('messages', {
            status: value('status'),
            destination: value('destination'),
            group_id: value('group_id'),
            recipient: value('recipient'),
            from: isoOf(value('from') ?? ''),
            to: isoOf(value('to') ?? ''),
            idempotency_key: wanted || undefined,
          }),
        );
      }}
    >
      <div class="filter-grid">
        <label>
          Status
          <select name="status">
            <option value="" selected={!f.status}>
              any
            </option>
            {STATUSES.map((s) => (
              <option value={s} key={s} selected={f.status === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Destination
          <input name="destination" defaultValue={f.destination ?? ''} placeholder="default" />
        </label>
        <label>
          Group (fan-out)
          <input name="group_id" defaultValue={f.group_id ?? ''} />
        </label>
        <label>
          Recipient
          <input name="recipient" defaultValue={f.recipient ?? ''} placeholder="+905551111111" />
        </label>
        <label>
          Created from
          <input name="from" type="datetime-local" defaultValue={localInput(f.from)} />
        </label>
        <label>
          Created before
          <input name="to" type="datetime-local" defaultValue={localInput(f.to)} />
        </label>
        <label>
          Find by id or Idempotency-Key
          <input name="find" value={find} onInput={(e) => setFind((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <div class="row">
        <button type="submit" class="btn btn-primary">
          Apply
        </button>
        <a href={href('messages')}>Clear filters</a>
      </div>
    </form>
  );
}

interface BulkAnswer {
  dry_run: boolean;
  matched: number;
  retried: number;
  more: boolean;
}

/** Retry every failed or unknown message the filters match: counted first, then done. */
function BulkRetry(props: { filters: Filters; onDone: () => void }) {
  const f = props.filters;
  const body = {
    ...(f.status ? { status: f.status } : {}),
    ...(f.destination ? { destination: f.destination } : {}),
    ...(f.group_id ? { group_id: f.group_id } : {}),
    ...(f.recipient ? { recipient: f.recipient } : {}),
    ...(f.from ? { from: f.from } : {}),
    ...(f.to ? { to: f.to } : {}),
  };
  const [counted, setCounted] = useState<BulkAnswer | null>(null);
  const [result, setResult] = useState<BulkAnswer | null>(null);
  const what = f.status ? `${f.status} messages` : 'failed or unknown messages';
  return (
    <Section title="Bulk retry">
      <p>Send again every {what} these filters match (newest first, up to 10,000 a time).</p>
      <div class="row">
        <ActionButton
          label={`Count matching ${what}`}
          run={() => post<BulkAnswer>('/messages/bulk-retry', { ...body, dry_run: true })}
          done={(r) => {
            setCounted(r as BulkAnswer);
            setResult(null);
          }}
        />
        {counted && counted.matched > 0 ? (
          <ActionButton
            label={`Retry ${counted.matched} message${counted.matched === 1 ? '' : 's'}`}
            kind="danger"
            run={() => post<BulkAnswer>('/messages/bulk-retry', body)}
            done={(r) => {
              setResult(r as BulkAnswer);
              setCounted(null);
              props.onDone();
            }}
          />
        ) : null}
      </div>
      <p aria-live="polite">
        {counted
          ? `${counted.matched}${counted.more ? '+' : ''} ${what} match.`
          : result
            ? `${result.retried} of ${result.matched} messages sent back to unsent${result.more ? '; more match: run it again' : ''}.`
            : ''}
      </p>
    </Section>
  );
}
