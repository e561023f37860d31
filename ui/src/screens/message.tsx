import { del, get, post } from '../api';
import {
  ActionButton,
  Badge,
  ErrorNote,
  Fields,
  formatMs,
  Section,
  Time,
  useLoad,
  UserText,
} from '../components';
import { href } from '../router';
import type { Attempt, Me, Message } from '../types';

type WithAttempts = Message & { attempts_log: Attempt[] };

export function MessageScreen(props: { id: string; me: Me }) {
  const {
    data: m,
    error,
    reload,
  } = useLoad(() => get<WithAttempts>(`/messages/${encodeURIComponent(props.id)}`), [props.id]);
  const canWrite = props.me.scopes.includes('messages:write');
  return (
    <>
      <p>
        <a href={href('messages')}>← Messages</a>
      </p>
      <h1>
        Message <code>{props.id}</code>
      </h1>
      <ErrorNote error={error} />
      {m ? (
        <>
          <Section
            title="Fields"
            actions={
              canWrite ? (
                <>
                  {m.status === 'failed' || m.status === 'unknown' ? (
                    <ActionButton
                      label="Retry"
                      kind="primary"
                      run={() => post(`/messages/${m.id}/retry`)}
                      done={reload}
                    />
                  ) : null}
                  {m.status === 'unknown' ? (
                    <ActionButton
                      label="Give up"
                      kind="danger"
                      run={() => post(`/messages/${m.id}/give-up`)}
                      done={reload}
                    />
                  ) : null}
                  {m.status === 'unsent' ? (
                    <ActionButton
                      label="Cancel"
                      kind="danger"
                      run={() => del(`/messages/${m.id}`)}
                      done={reload}
                    />
                  ) : null}
                </>
              ) : null
            }
          >
            <Fields
              rows={[
                ['Status', <Badge value={m.status} />],
                ['Content', <UserText text={m.content} />],
                ['Recipient', <UserText text={m.recipient_phone_number} />],
                ['Destination', <UserText text={m.destination} />],
                ['Topic', <UserText text={m.topic} />],
                [
                  'Group',
                  m.group_id ? (
                    <a href={href('messages', { group_id: m.group_id })}>
                      <UserText text={m.group_id} />
                    </a>
                  ) : (
                    <UserText text={null} />
                  ),
                ],
                ['Priority', String(m.priority)],
                ['Created', <Time at={m.created_at} />],
                ['Send at', <Time at={m.send_at} />],
                ['Next attempt', <Time at={m.next_attempt_at} />],
                ['Sent', <Time at={m.sent_at} />],
                ['Attempts', String(m.attempts)],
                ['Last error', <UserText text={m.last_error} />],
                ['Webhook id', <code>{m.webhook_id}</code>],
                ['Receiver’s message id', <UserText text={m.webhook_response_message_id} />],
              ]}
            />
          </Section>
          <Section title="Attempts">
            {m.attempts_log.length === 0 ? (
              <p>No attempt yet.</p>
            ) : (
              <ol class="timeline">
                {m.attempts_log.map((a) => (
                  <li key={`${a.attempt}-${a.started_at}`} class={`attempt attempt-${a.outcome}`}>
                    <div class="attempt-head">
                      <strong>Attempt {a.attempt}</strong> <Badge value={a.outcome} />{' '}
                      <Time at={a.started_at} />
                    </div>
                    <Fields
                      rows={[
                        [
                          'Answer',
                          a.status_code === null ? (
                            <span class="muted">no answer</span>
                          ) : (
                            String(a.status_code)
                          ),
                        ],
                        ['Latency', formatMs(a.latency_ms)],
                        ['Error', <UserText text={a.error} />],
                        ['Destination', <UserText text={a.destination} />],
                        ['URL', <UserText text={a.url} />],
                        ['Node', <UserText text={a.node} />],
                      ]}
                    />
                  </li>
                ))}
              </ol>
            )}
          </Section>
        </>
      ) : null}
    </>
  );
}
