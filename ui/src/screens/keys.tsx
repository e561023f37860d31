import { useState } from 'preact/hooks';
import { del, get, post } from '../api';
import { ActionButton, ErrorNote, Section, Time, useLoad, UserText, Table } from '../components';
import { SCOPES, type ApiKey, type Me } from '../types';

export function KeysScreen(_props: { me: Me }) {
  const { data, error, reload } = useLoad(() => get<ApiKey[]>('/keys'), []);
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null);
  return (
    <>
      <h1>API keys</h1>
      <CreateKey
        onCreated={(k) => {
          setCreated(k);
          reload();
        }}
      />
      {created ? (
        <div class="notice card" role="status">
          <p>
            Key <UserText text={created.name} /> made. Copy it now: it is not shown again.
          </p>
          <code class="secret" id="new-key">
            {created.key}
          </code>
        </div>
      ) : null}
      <ErrorNote error={error} />
      {data ? (
        <Section title="Keys">
          <Table
            caption="API keys"
            columns={['Name', 'Id', 'Scopes', 'Created', 'Expires', 'Last used', 'Revoked', 'Actions']}
          >
            {data.map((k) => (
              <tr key={k.id}>
                <td>
                  <UserText text={k.name} />
                </td>
                <td>
                  <code>{k.id}</code>
                </td>
                <td>{k.scopes.join(', ')}</td>
                <td>
                  <Time at={k.created_at} />
                </td>
                <td>
                  <Time at={k.expires_at} />
                </td>
                <td>
                  <Time at={k.last_used_at ?? null} />
                </td>
                <td>
                  <Time at={k.revoked_at ?? null} />
                </td>
                <td>
                  {k.revoked_at ? null : (
                    <ActionButton
                      label={`Revoke ${k.name}`}
                      kind="danger"
                      run={() => del(`/keys/${encodeURIComponent(k.id)}`)}
                      done={reload}
                    />
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}
    </>
  );
}

function CreateKey(props: { onCreated: (k: ApiKey & { key: string }) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="card"
      aria-labelledby="create-key"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget as HTMLFormElement;
        const data = new FormData(form);
        const scopes = SCOPES.filter((s) => data.get(`scope-${s}`) === 'on');
        setBusy(true);
        setError(null);
        try {
          const k = await post<ApiKey & { key: string }>('/keys', {
            name: String(data.get('name') ?? ''),
            scopes,
          });
          form.reset();
          props.onCreated(k);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2 id="create-key">Create a key</h2>
      <label for="key-name">Name</label>
      <input id="key-name" name="name" required maxLength={64} pattern="[A-Za-z0-9][A-Za-z0-9._\-]*" />
      <fieldset>
        <legend>Scopes</legend>
        <div class="scopes">
          {SCOPES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" name={`scope-${s}`} /> {s}
            </label>
          ))}
        </div>
      </fieldset>
      <button type="submit" class="btn btn-primary" disabled={busy}>
        Create key
      </button>
      <ErrorNote error={error} />
    </form>
  );
}
