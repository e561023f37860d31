import { useState } from 'preact/hooks';
import { get, post } from '../api';
import {
  ActionButton,
  Badge,
  ErrorNote,
  Fields,
  Section,
  Time,
  useLoad,
  UserText,
  Table,
} from '../components';
import { href } from '../router';
import type { Destination, Me, Message } from '../types';

export function DestinationsScreen(_props: { me: Me }) {
  const { data, error } = useLoad(() => get<Destination[]>('/destinations?limit=100'), []);
  return (
    <>
      <h1>Destinations</h1>
      <ErrorNote error={error} />
      {data ? (
        <Section title="Receivers">
          <Table caption="Destinations" columns={['Destination', 'Status', 'URL', 'Topics', 'Rate limit']}>
            {data.map((d) => (
              <tr key={d.id}>
                <td>
                  <a href={href(`destinations/${d.id}`)}>
                    <UserText text={d.id} />
                  </a>
                </td>
                <td>
                  <Badge value={d.status} />
                </td>
                <td class="clip">
                  <UserText text={d.url} />
                </td>
                <td>
                  <UserText text={d.topics.join(', ')} />
                </td>
                <td>{d.rate_limit ? `${d.rate_limit.limit} / ${d.rate_limit.period}` : '—'}</td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}
    </>
  );
}

export function DestinationScreen(props: { id: string; me: Me }) {
  const {
    data: d,
    error,
    reload,
  } = useLoad(() => get<Destination>(`/destinations/${encodeURIComponent(props.id)}`), [props.id]);
  const [secret, setSecret] = useState<string | null>(null);
  const [sent, setSent] = useState<Message | null>(null);
  const canWrite = props.me.scopes.includes('destinations:write');
  const canSend = props.me.scopes.includes('messages:write');
  const h = d?.health;
  return (
    <>
      <p>
        <a href={href('destinations')}>← Destinations</a>
      </p>
      <h1>
        Destination <UserText text={props.id} />
      </h1>
      <ErrorNote error={error} />
      {d ? (
        <>
          <Section
            title="Settings"
            actions={
              <>
                {canWrite && !d.builtin ? (
                  d.status === 'active' ? (
                    <ActionButton
                      label="Pause"
                      kind="danger"
                      run={() => post(`/destinations/${encodeURIComponent(d.id)}/pause`)}
                      done={reload}
                    />
                  ) : (
                    <ActionButton
                      label="Resume"
                      kind="primary"
                      run={() => post(`/destinations/${encodeURIComponent(d.id)}/resume`)}
                      done={reload}
                    />
                  )
                ) : null}
                {canWrite && !d.builtin ? (
                  <ActionButton
                    label="Rotate secret"
                    run={() =>
                      post<{ secret: string }>(`/destinations/${encodeURIComponent(d.id)}/rotate-secret`, {
                        overlap: '24h',
                      })
                    }
                    done={(r) => {
                      setSecret((r as { secret: string }).secret);
                      reload();
                    }}
                  />
                ) : null}
                {canSend ? (
                  <ActionButton
                    label="Send a test message"
                    run={() =>
                      post<Message>('/messages', {
                        destination: d.id,
                        content: 'A test message from the message-scheduler dashboard.',
                        recipient_phone_number: 'dashboard-test',
                      })
                    }
                    done={(r) => setSent(r as Message)}
                  />
                ) : null}
              </>
            }
          >
            {secret ? (
              <div class="notice" role="status">
                <p>The new signing secret, shown this once: the current ones still sign for 24 hours.</p>
                <code class="secret">{secret}</code>
              </div>
            ) : null}
            {sent ? (
              <p role="status">
                Test message <a href={href(`messages/${sent.id}`)}>{sent.id}</a> stored; it is delivered like
                any other.
              </p>
            ) : null}
            <Fields
              rows={[
                ['Status', <Badge value={d.status} />],
                ['Why disabled', <UserText text={d.disabled_reason} />],
                ['URL', <UserText text={d.url} />],
                ['Description', <UserText text={d.description} />],
                ['Topics', <UserText text={d.topics.join(', ')} />],
                [
                  'Rate limit',
                  d.rate_limit
                    ? `${d.rate_limit.limit} per ${d.rate_limit.period}, burst ${d.rate_limit.burst}`
                    : 'none',
                ],
                ['Max in flight', d.max_in_flight === null ? 'no bound' : String(d.max_in_flight)],
                [
                  'Secrets',
                  d.secrets.length === 0 ? (
                    'none (requests are not signed)'
                  ) : (
                    <ul class="plain">
                      {d.secrets.map((s, i) => (
                        <li key={i}>
                          <code>{s.secret}</code>{' '}
                          {s.expires_at ? (
                            <>
                              until <Time at={s.expires_at} />
                            </>
                          ) : null}
                        </li>
                      ))}
                    </ul>
                  ),
                ],
                [
                  'Metadata',
                  Object.keys(d.metadata).length === 0 ? (
                    '—'
                  ) : (
                    <ul class="plain">
                      {Object.entries(d.metadata).map(([k, v]) => (
                        <li key={k}>
                          <UserText text={k} />: <UserText text={v} />
                        </li>
                      ))}
                    </ul>
                  ),
                ],
                [
                  'Messages',
                  <a href={href('messages', { destination: d.id })}>messages to this destination</a>,
                ],
              ]}
            />
          </Section>
          {h ? (
            <Section title="Health">
              <Fields
                rows={[
                  ['Circuit', <Badge value={h.circuit} />],
                  [
                    'Effective rate',
                    h.effective_rate === null ? 'no bound' : `${h.effective_rate.toFixed(2)} / s`,
                  ],
                  ['In flight', String(h.in_flight)],
                  ['Due backlog', String(h.due_backlog)],
                  [
                    `Success ratio (${h.window})`,
                    h.success_ratio === null
                      ? 'no attempt'
                      : `${Math.round(h.success_ratio * 100)}% of ${h.attempts_in_window}`,
                  ],
                  ['Last success', <Time at={h.last_success_at} />],
                  ['Last failure', <Time at={h.last_failure_at} />],
                ]}
              />
            </Section>
          ) : null}
        </>
      ) : null}
    </>
  );
}
