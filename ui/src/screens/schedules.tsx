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
import type { Me, Schedule } from '../types';

function when(s: Schedule): string {
  return s.cron
    ? `cron ${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`
    : s.every
      ? `every ${s.every}`
      : '—';
}

function Actions(props: { s: Schedule; me: Me; done: () => void }) {
  const { s } = props;
  if (!props.me.scopes.includes('schedules:write')) return null;
  const path = `/schedules/${encodeURIComponent(s.id)}`;
  return (
    <>
      {s.status === 'active' ? (
        <ActionButton label="Pause" kind="danger" run={() => post(`${path}/pause`)} done={props.done} />
      ) : s.status === 'paused' ? (
        <ActionButton label="Resume" kind="primary" run={() => post(`${path}/resume`)} done={props.done} />
      ) : null}
      {s.status !== 'ended' ? (
        <ActionButton label="Run now" run={() => post(`${path}/trigger`)} done={props.done} />
      ) : null}
    </>
  );
}

export function SchedulesScreen(props: { me: Me }) {
  const { data, error, reload } = useLoad(() => get<Schedule[]>('/schedules?limit=100'), []);
  return (
    <>
      <h1>Schedules</h1>
      <ErrorNote error={error} />
      {data ? (
        <Section title="Schedules">
          {data.length === 0 ? (
            <p>No schedule yet.</p>
          ) : (
            <Table
              caption="Schedules"
              columns={[
                'Schedule',
                'Status',
                'When',
                'Next run',
                'Last run',
                { label: 'Runs', num: true },
                'Actions',
              ]}
            >
              {data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <a href={href(`schedules/${s.id}`)}>
                      <UserText text={s.id} />
                    </a>
                  </td>
                  <td>
                    <Badge value={s.status} />
                  </td>
                  <td>
                    <UserText text={when(s)} />
                  </td>
                  <td>
                    <Time at={s.next_run_at} />
                  </td>
                  <td>
                    <Time at={s.last_run_at} />
                  </td>
                  <td class="num">{s.run_count}</td>
                  <td>
                    <Actions s={s} me={props.me} done={reload} />
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Section>
      ) : null}
    </>
  );
}

export function ScheduleScreen(props: { id: string; me: Me }) {
  const {
    data: s,
    error,
    reload,
  } = useLoad(() => get<Schedule>(`/schedules/${encodeURIComponent(props.id)}`), [props.id]);
  return (
    <>
      <p>
        <a href={href('schedules')}>← Schedules</a>
      </p>
      <h1>
        Schedule <UserText text={props.id} />
      </h1>
      <ErrorNote error={error} />
      {s ? (
        <>
          <Section title="Schedule" actions={<Actions s={s} me={props.me} done={reload} />}>
            <Fields
              rows={[
                ['Status', <Badge value={s.status} />],
                ['When', <UserText text={when(s)} />],
                ['Description', <UserText text={s.description ?? null} />],
                ['Next run', <Time at={s.next_run_at} />],
                ['Last run', <Time at={s.last_run_at} />],
                ['Runs', String(s.run_count)],
              ]}
            />
          </Section>
          <Section title="Next runs">
            {s.upcoming && s.upcoming.length > 0 ? (
              <ol>
                {s.upcoming.map((u) => (
                  <li key={u.at}>
                    <Time at={u.at} /> <span class="muted">({u.local})</span>
                  </li>
                ))}
              </ol>
            ) : (
              <p>None.</p>
            )}
          </Section>
        </>
      ) : null}
    </>
  );
}
