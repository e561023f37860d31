import { useState } from 'preact/hooks';
import { ErrorNote } from '../components';

/**
 * Asks for a credential: an API key (`ms_…`) or an OAuth2 access token. It is kept for this tab
 * only (sessionStorage), sent as `Authorization: Bearer`, never in a cookie or the URL.
 */
export function Login(props: { error: unknown; onCredential: (value: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <main id="main" class="center">
      <form
        class="card login"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) props.onCredential(value.trim());
        }}
      >
        <h1>message-scheduler</h1>
        <p>Sign in with an API key or an OAuth2 access token. It is kept for this tab only.</p>
        <label for="credential">API key or token</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" class="btn btn-primary">
          Sign in
        </button>
        <ErrorNote error={props.error} />
        <p class="muted">
          Make a key with <code>message-scheduler keys create --name NAME --scopes messages:read,…</code>
        </p>
      </form>
    </main>
  );
}
