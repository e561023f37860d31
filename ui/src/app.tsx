import { useEffect, useState } from 'preact/hooks';
import { ApiError, credential, get, setCredential } from './api';
import type { Me, Scope } from './types';
import { href, useRoute } from './router';
import { ErrorNote, UserText } from './components';
import { Login } from './screens/login';
import { OverviewScreen } from './screens/overview';
import { MessagesScreen } from './screens/messages';
import { MessageScreen } from './screens/message';
import { DestinationsScreen, DestinationScreen } from './screens/destinations';
import { SchedulesScreen, ScheduleScreen } from './screens/schedules';
import { NodesScreen } from './screens/nodes';
import { KeysScreen } from './screens/keys';

/** The screens, each offered only to a credential whose scopes allow reading it. */
const SCREENS: { path: string; label: string; scope: Scope }[] = [
  { path: 'overview', label: 'Overview', scope: 'messages:read' },
  { path: 'messages', label: 'Messages', scope: 'messages:read' },
  { path: 'destinations', label: 'Destinations', scope: 'destinations:read' },
  { path: 'schedules', label: 'Schedules', scope: 'schedules:read' },
  { path: 'nodes', label: 'Nodes', scope: 'pool:control' },
  { path: 'keys', label: 'API keys', scope: 'admin' },
];

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const route = useRoute();

  async function check(): Promise<void> {
    setChecking(true);
    try {
      const who = await get<Me>('/me');
      // no credential, and one is needed: ask for it
      setMe(who.kind === 'none' ? null : who);
      setError(null);
    } catch (e) {
      setMe(null);
      // a refused credential is forgotten; any other error (the service is down) is shown
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        if (credential()) setError(e);
        setCredential(null);
      } else setError(e);
    } finally {
      setChecking(false);
    }
  }

  useEffect(() => {
    void check();
  }, []);

  if (checking && !me) {
    return (
      <main id="main" class="center">
        <p aria-live="polite">Loading…</p>
      </main>
    );
  }
  if (!me) {
    return (
      <Login
        error={error}
        onCredential={(value) => {
          setCredential(value);
          void check();
        }}
      />
    );
  }

  const can = (s: Scope) => me.scopes.includes(s);
  const screens = SCREENS.filter((s) => can(s.scope));
  const [first = screens[0]?.path ?? '', id] = route.path;
  const current = screens.find((s) => s.path === first) ?? screens[0];

  return (
    <div class="layout">
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">message-scheduler</span>
        <nav aria-label="Screens">
          <ul>
            {screens.map((s) => (
              <li key={s.path}>
                <a href={href(s.path)} aria-current={current?.path === s.path ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            <UserText text={me.kind === 'anonymous' ? 'anonymous (no credential needed)' : me.name} />
          </span>
          {credential() ? (
            <button
              type="button"
              class="btn btn-plain"
              onClick={() => {
                setCredential(null);
                setMe(null);
              }}
            >
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorNote error={error} />
        {!current ? (
          <p>This credential's scopes allow none of the dashboard's screens.</p>
        ) : (
          <Screen path={current.path} id={id} me={me} query={route.query} />
        )}
      </main>
    </div>
  );
}

function Screen(props: { path: string; id: string | undefined; me: Me; query: URLSearchParams }) {
  const { id, me, query } = props;
  switch (props.path) {
    case 'overview':
      return <OverviewScreen me={me} />;
    case 'messages':
      return id ? <MessageScreen id={id} me={me} /> : <MessagesScreen me={me} query={query} />;
    case 'destinations':
      return id ? <DestinationScreen id={id} me={me} /> : <DestinationsScreen me={me} />;
    case 'schedules':
      return id ? <ScheduleScreen id={id} me={me} /> : <SchedulesScreen me={me} />;
    case 'nodes':
      return <NodesScreen me={me} />;
    case 'keys':
      return <KeysScreen me={me} />;
    default:
      return null;
  }
}
