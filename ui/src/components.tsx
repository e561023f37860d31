import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

/**
 * Text a user or a receiver supplied (content, phone numbers, errors, replies, metadata): always
 * a text node (Preact never parses it as markup), in a <bdi> so right-to-left and invisible
 * characters cannot reorder the text around it.
 */
export function UserText(props: { text: string | null | undefined; class?: string }) {
  if (props.text === null || props.text === undefined || props.text === '')
    return <span class="muted">—</span>;
  const hidden = hiddenCharacters(props.text);
  return (
    <>
      <bdi class={`user-text ${props.class ?? ''}`}>{props.text}</bdi>
      {hidden ? (
        <span class="hidden-chars" title={hidden}>
          {' '}
          (holds invisible or direction characters: {hidden})
        </span>
      ) : null}
    </>
  );
}

/** Characters that change how text reads without showing: direction overrides, zero-width ones. */
const HIDDEN = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** The invisible characters of a text, as `U+202E` codes (null: none), so an operator sees them. */
export function hiddenCharacters(text: string): string | null {
  const found = text.match(HIDDEN);
  if (!found) return null;
  const codes = [...new Set(found)].map(
    (c) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`,
  );
  return codes.join(' ');
}

export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  const d = new Date(props.at);
  return (
    <time dateTime={props.at} title={props.at}>
      {formatTime(d)}
    </time>
  );
}

/** `2026-12-06 14:03:07` in the browser's time zone. */
export function formatTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatAge(seconds: number): string {
  if (seconds < 1) return 'none';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function Badge(props: { value: string }) {
  return <span class={`badge badge-${props.value.replace(/[^a-z_]/g, '')}`}>{props.value}</span>;
}

/** An error of the API as the page shows it: its message and code, as text. */
export function ErrorNote(props: { error: unknown }) {
  if (!props.error) return null;
  const e = props.error;
  const text =
    e instanceof ApiError ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e);
  return (
    <p class="error" role="alert">
      <UserText text={text} />
    </p>
  );
}

/** Loads `load()` when `deps` change (and every `everyMs`, while the tab is visible). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await load();
      if (mine === seq.current) {
        setData(d);
        setError(null);
      }
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
  }, deps);
  useEffect(() => {
    void reload();
    if (!everyMs) return undefined;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') void reload();
    }, everyMs);
    return () => clearInterval(t);
  }, [reload, everyMs]);
  return { data, error, loading, reload };
}

/** A button that runs an action, shows it running, and reports its error or result. */
export function ActionButton(props: {
  label: string;
  run: () => Promise<unknown>;
  done?: (result: unknown) => void;
  kind?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
  describedBy?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={`btn btn-${props.kind ?? 'plain'}`}
        disabled={busy || props.disabled}
        aria-busy={busy}
        aria-describedby={props.describedBy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            const r = await props.run();
            props.done?.(r);
          } catch (e) {
            setError(e);
          } finally {
            setBusy(false);
          }
        }}
      >
        {props.label}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

/** Bars of a per-minute series, in SVG (no script, no style attribute: the page's policy holds). */
export function Bars(props: { label: string; values: number[]; kind: 'ok' | 'bad' | 'warn'; unit?: string }) {
  const w = 300;
  const h = 64;
  const max = Math.max(1, ...props.values);
  const bw = w / Math.max(1, props.values.length);
  const total = props.values.reduce((a, b) => a + b, 0);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${w} ${h}`}
        width="100%"
        height={h}
        role="img"
        aria-label={`${props.label}: ${total} in the last ${props.values.length} minutes, at most ${max === 1 && total === 0 ? 0 : max} in a minute`}
        preserveAspectRatio="none"
      >
        {props.values.map((v, i) => {
          const bh = (v / max) * (h - 2);
          return (
            <rect
              class={`bar bar-${props.kind}`}
              x={i * bw + 1}
              y={h - bh}
              width={Math.max(1, bw - 2)}
              height={bh}
            >
              <title>{`${v}${props.unit ?? ''}`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption>{props.label}</figcaption>
    </figure>
  );
}

/** A table with a caption for screen readers and its column headers; `num` columns align right. */
export function Table(props: {
  caption: string;
  columns: (string | { label: string; num: true })[];
  children: ComponentChildren;
}) {
  return (
    <div class="scroll">
      <table>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) =>
              typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" class="num" key={c.label}>
                  {c.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <div class="card-head">
        <h2>{props.title}</h2>
        {props.actions ? <div class="card-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  );
}

/** A definition list of fields: every value as text. */
export function Fields(props: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="fields">
      {props.rows.map(([k, v]) => (
        <div class="field" key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
