/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a running
 * service on SQLite and on PostgreSQL: every screen loads with no console error and no CSP
 * violation; hostile content stays text; the operator's actions work and the API agrees; the keyboard
 * reaches everything; axe-core finds no serious or critical violation. Screenshots of each screen go
 * to test-output/dashboard/ (two of them are in docs/images/ and the README).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { App } from '../src/app/app.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { uiFilesDir } from '../src/dashboard/ui-files.js';
import { testApp, waitFor } from './helpers/app.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { Receiver } from './helpers/receiver.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const SHOTS = join(ROOT, 'test-output', 'dashboard');
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

function browserPath(): string {
  const found = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
    (p): p is string => !!p && existsSync(p),
  );
  // no silent skip: the dashboard's only test of its screens is this one
  if (!found) throw new Error('Chromium is not installed: run scripts/services.sh up (it installs chromium)');
  return found;
}

/** What hostile users and receivers write: all of it must show as text, none of it may run. */
const HOSTILE = {
  script: '<script>window.__xss = 1</script>',
  img: '"><img src=x onerror="window.__xss = 2">',
  rtl: 'invoice \u202Egnp.exe\u202C paid',
  zeroWidth: 'a\u200Bb\u200Cc\u200Dd\uFEFFe',
  emoji: '😀'.repeat(160),
};

/** Answers 500 with a hostile body to messages for `+fail`, 200 to the others. */
const hostileWhenFailing = (body: string) =>
  body.includes('+fail')
    ? {
        status: 500,
        type: 'text/html',
        body: '<img src=x onerror="window.__xss = 3"><script>window.__xss = 4</script>',
      }
    : { status: 200, body: '{"messageId":"ok"}' };

/** The page's console errors, uncaught exceptions and CSP violations, collected as they happen. */
async function watched(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  await page.exposeFunction('reportViolation', (v: string) => problems.push(`CSP: ${v}`));
  // a string: this file is type-checked without the DOM library
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return { page, problems };
}

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
}

/** axe-core's serious and critical violations on the page as it is now (none expected). */
async function accessibility(page: Page): Promise<string[]> {
  // evaluated through the DevTools protocol: the page's CSP (no inline script) does not apply
  await page.evaluate(`${AXE}; undefined`);
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`,
  )) as AxeResult;
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

async function xssFired(page: Page): Promise<unknown> {
  return page.evaluate(`window.__xss`);
}

const backends: { name: string; env: () => Record<string, string> | null; drop?: () => Promise<void> }[] = [];
backends.push({ name: 'sqlite', env: () => ({}) });
const pgUrl = serviceUrl('DATABASE_URL');
if (pgUrl) {
  const schema = uniqueName('ui');
  backends.push({
    name: 'postgres',
    env: () => ({ DATABASE_URL: pgUrl, DATABASE_SCHEMA: schema }),
    async drop() {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  });
}

for (const backend of backends) {
  describe(`the dashboard on ${backend.name}`, () => {
    let app: App;
    let cleanup: () => Promise<void>;
    let receiver: Receiver;
    let browser: Browser;
    let base = '';
    let admin = '';
    let reader = '';
    const ids: Record<string, string> = {};

    async function api(method: string, url: string, body?: unknown, key = admin) {
      const r = await app.server.inject({
        method: method as 'GET',
        url,
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        headers: {
          authorization: `Bearer ${key}`,
          ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
        },
      });
      return { status: r.statusCode, body: (r.body ? r.json() : null) as Record<string, unknown> };
    }

    async function signIn(page: Page, key: string): Promise<void> {
      await page.goto(`${base}/ui/`);
      await page.getByLabel('API key or token').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('navigation', { name: 'Screens' }).waitFor();
    }

    before(async () => {
      assert.ok(uiFilesDir(), 'the dashboard is built (npm run build)');
      mkdirSync(SHOTS, { recursive: true });
      receiver = await new Receiver(hostileWhenFailing).start();
      ({ app, cleanup } = await testApp({
        ...backend.env(),
        WEBHOOK_URL: `http://127.0.0.1:${receiver.port}/hook`,
        POOL_INITIAL_JOB_FETCH: 'true',
        RATE_LIMITER_ENABLED: 'false',
        RETRY_MAX_ATTEMPTS: '1',
        AUTH_KEY_REFRESH_INTERVAL: '100ms',
        POOL_HEARTBEAT_INTERVAL: '200ms',
      }));
      app.pool.start();
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
      browser = await chromium.launch({
        executablePath: browserPath(),
        args: ['--no-sandbox', '--disable-gpu'],
      });
    });

    after(async () => {
      await browser?.close();
      await cleanup?.();
      await receiver?.close();
      await backend.drop?.();
    });

    test('protected mode: a loopback browser needs no key while none is configured', async () => {
      const { page, problems } = await watched(browser);
      await page.goto(`${base}/ui/`);
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      assert.equal(await page.getByLabel('API key or token').count(), 0, 'no sign-in asked');
      assert.match(await page.locator('.who').innerText(), /anonymous/);
      assert.deepEqual(problems, []);
      await page.close();
    });

    test('every screen loads, with hostile content shown as text and no serious accessibility problem', async () => {
      ({ key: admin } = await createApiKey(app.store.keys, 'ui-admin', [
        'messages:read',
        'messages:write',
        'pool:control',
        'destinations:read',
        'destinations:write',
        'schedules:read',
        'schedules:write',
        'admin',
      ]));
      ({ key: reader } = await createApiKey(app.store.keys, 'ui-reader', ['messages:read']));
      await app.access.auth.keys.refresh();

      // hostile text everywhere a user or a receiver writes it
      const dest = await api('POST', '/destinations', {
        id: 'hostile',
        url: `http://127.0.0.1:${receiver.port}/dest`,
        description: HOSTILE.img,
        metadata: { owner: HOSTILE.script, note: HOSTILE.rtl, zw: HOSTILE.zeroWidth },
        topics: ['orders'],
      });
      assert.equal(dest.status, 201, JSON.stringify(dest.body));
      for (const [name, content] of Object.entries(HOSTILE)) {
        const r = await api('POST', '/messages', {
          content,
          recipient_phone_number: `${HOSTILE.img} ${name}`,
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids[name] = String(r.body.id);
      }
      // failed for good (one attempt), with the receiver's hostile reply in last_error
      for (let i = 0; i < 3; i++) {
        const r = await api('POST', '/messages', {
          content: `${HOSTILE.script} ${i}`,
          recipient_phone_number: '+fail',
        });
        ids[`failed${i}`] = String(r.body.id);
      }
      // waiting for tomorrow: can be cancelled
      const later = await api('POST', '/messages', {
        content: 'later',
        recipient_phone_number: '+905551111111',
        send_at: new Date(Date.now() + 86_400_000).toISOString(),
      });
      ids.later = String(later.body.id);
      const sch = await api('POST', '/schedules', {
        id: 'digest',
        cron: '0 9 * * *',
        timezone: 'Europe/Istanbul',
        description: HOSTILE.rtl,
        message: { content: 'Daily digest', recipient_phone_number: '+905551111111' },
      });
      assert.equal(sch.status, 201, JSON.stringify(sch.body));
      await waitFor(
        async () => (await api('GET', `/messages/${ids.failed2}`)).body.status === 'failed',
        20_000,
        'the failing messages to fail',
      );
      await waitFor(
        async () => (await api('GET', `/messages/${ids.emoji}`)).body.status === 'sent',
        20_000,
        'the others to be sent',
      );

      const { page, problems } = await watched(browser);
      await signIn(page, admin);
      const screens: [string, string, RegExp][] = [
        ['overview', '#/overview', /^Overview$/],
        ['messages', '#/messages', /^Messages$/],
        ['messages-failed', '#/messages?status=failed', /^Messages$/],
        ['message', `#/messages/${ids.failed0}`, /^Message /],
        ['message-hostile', `#/messages/${ids.img}`, /^Message /],
        ['destinations', '#/destinations', /^Destinations$/],
        ['destination', '#/destinations/hostile', /^Destination /],
        ['schedules', '#/schedules', /^Schedules$/],
        ['schedule', '#/schedules/digest', /^Schedule /],
        ['nodes', '#/nodes', /^Nodes$/],
        ['keys', '#/keys', /^API keys$/],
      ];
      for (const [name, hash, heading] of screens) {
        await page.goto(`${base}/ui/${hash}`);
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        // the screen's data, not only its frame
        await page.locator('main table, main dl, main .stats').first().waitFor();
        await page.waitForLoadState('networkidle');
        assert.deepEqual(
          await accessibility(page),
          [],
          `${name}: serious or critical accessibility violations`,
        );
        await page.screenshot({ path: join(SHOTS, `${backend.name}-${name}.png`), fullPage: true });
      }
      // the hostile strings are on the pages as text: no element, no script, no handler came of them
      await page.goto(`${base}/ui/#/messages/${ids.img}`);
      await page.getByText(HOSTILE.img).first().waitFor();
      await page.goto(`${base}/ui/#/messages/${ids.script}`);
      await page.getByText(HOSTILE.script).first().waitFor();
      await page.goto(`${base}/ui/#/messages/${ids.failed0}`);
      await page
        .getByText(/HTTP 500: <img src=x onerror=/)
        .first()
        .waitFor();
      await page.goto(`${base}/ui/#/destinations/hostile`);
      await page.getByText(HOSTILE.script).first().waitFor();
      assert.equal(await xssFired(page), undefined, 'no hostile script ran');
      assert.equal(await page.locator('img').count(), 0, 'no <img> was made from text');
      assert.equal(await page.locator('main script').count(), 0);
      // right-to-left and invisible characters are isolated: each value is its own <bdi>
      await page.goto(`${base}/ui/#/messages/${ids.rtl}`);
      await page.locator('bdi', { hasText: 'gnp.exe' }).first().waitFor();
      // and what an operator cannot see is named
      await page.getByText('U+202E U+202C').first().waitFor();
      assert.deepEqual(problems, [], 'no console error and no CSP violation on any screen');
      await page.close();
    });

    test('pause and resume, retry, cancel, bulk retry and key creation work, and the API agrees', async () => {
      const { page, problems } = await watched(browser);
      await signIn(page, admin);

      await page.goto(`${base}/ui/#/overview`);
      await page.getByRole('button', { name: 'Pause delivery' }).click();
      await page.getByRole('button', { name: 'Resume delivery' }).waitFor();
      assert.equal((await api('GET', '/worker-pool/state')).body.status, 'paused');
      await page.getByRole('button', { name: 'Resume delivery' }).click();
      await page.getByRole('button', { name: 'Pause delivery' }).waitFor();
      assert.equal((await api('GET', '/worker-pool/state')).body.status, 'running');

      await page.goto(`${base}/ui/#/messages/${ids.later}`);
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.locator('.fields .badge', { hasText: 'cancelled' }).first().waitFor();
      assert.equal((await api('GET', `/messages/${ids.later}`)).body.status, 'cancelled');

      // give up: a message whose outcome is unknown (a node stopped mid-delivery, at most once)
      const made = await api('POST', '/messages', {
        content: 'unknown outcome',
        recipient_phone_number: '+905551111111',
        send_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
      const unknownId = String(made.body.id);
      const later = new Date(Date.now() + 3_700_000);
      const claimed = await app.store.claim({ owner: 'gone-node', limit: 10, now: later, leaseMs: 60_000 });
      assert.ok(claimed.some((m) => m.id === unknownId));
      await app.store.complete(
        claimed
          .filter((m) => m.id === unknownId)
          .map((m) => ({
            id: m.id,
            owner: 'gone-node',
            outcome: { kind: 'unknown' as const, error: 'node lost' },
            attempt: null,
          })),
        later,
      );
      await app.store.release(
        'gone-node',
        claimed.filter((m) => m.id !== unknownId).map((m) => m.id),
        later,
      );
      await page.goto(`${base}/ui/#/messages/${unknownId}`);
      await page.getByRole('button', { name: 'Give up' }).click();
      await page.locator('.fields .badge', { hasText: 'failed' }).first().waitFor();
      assert.equal((await api('GET', `/messages/${unknownId}`)).body.status, 'failed');

      await page.goto(`${base}/ui/#/messages/${ids.failed0}`);
      // The button's request is what is checked, not the button going away: the receiver fails the
      // message again within milliseconds, so the reloaded screen may already show it failed (and the
      // button) again. CI saw exactly that race once.
      const retried = page.waitForResponse(
        (r) => r.request().method() === 'POST' && r.url().endsWith(`/messages/${ids.failed0}/retry`),
      );
      await page.getByRole('button', { name: 'Retry' }).click();
      assert.equal((await retried).status(), 200, 'the Retry button posts the retry and it is accepted');
      // it went back to unsent; the receiver fails it again (one attempt more)
      await waitFor(
        async () => Number((await api('GET', `/messages/${ids.failed0}`)).body.attempts) === 2,
        20_000,
        'the retried message to be attempted again',
      );

      // bulk: the failed messages of the filter, counted, then retried
      await waitFor(
        async () => (await api('GET', `/messages/${ids.failed0}`)).body.status === 'failed',
        20_000,
        'the retried message to fail again',
      );
      await page.goto(`${base}/ui/#/messages?status=failed&recipient=%2Bfail`);
      await page.getByRole('button', { name: 'Count matching failed messages' }).click();
      await page.getByText('3 failed messages match.').waitFor();
      await page.getByRole('button', { name: 'Retry 3 messages' }).click();
      await page.getByText('3 of 3 messages sent back to unsent.').waitFor();
      for (const id of [ids.failed0, ids.failed1, ids.failed2]) {
        await waitFor(
          async () => Number((await api('GET', `/messages/${id}`)).body.attempts) >= 2,
          20_000,
          `${id} to be attempted again after the bulk retry`,
        );
      }

      await page.goto(`${base}/ui/#/keys`);
      await page.getByLabel('Name').fill('made-in-the-browser');
      await page.getByLabel('schedules:read').check();
      await page.getByLabel('messages:read').check();
      await page.getByRole('button', { name: 'Create key' }).click();
      const newKey = (await page.locator('#new-key').innerText()).trim();
      assert.match(newKey, /^ms_/);
      const listed = (await api('GET', '/keys')).body as unknown as { name: string; scopes: string[] }[];
      assert.deepEqual(listed.find((k) => k.name === 'made-in-the-browser')?.scopes.sort(), [
        'messages:read',
        'schedules:read',
      ]);
      await app.access.auth.keys.refresh();
      const me = await api('GET', '/me', undefined, newKey);
      assert.equal(me.status, 200);
      assert.deepEqual(me.body.scopes, ['messages:read', 'schedules:read']);
      // and revoked from the same screen
      await page.getByRole('button', { name: 'Revoke made-in-the-browser' }).click();
      await page.getByRole('button', { name: 'Revoke made-in-the-browser' }).waitFor({ state: 'detached' });
      await app.access.auth.keys.refresh();
      assert.equal((await api('GET', '/me', undefined, newKey)).status, 401);
      assert.deepEqual(problems, []);
      await page.close();
    });

    test('a key sees only what its scopes allow, and the keyboard reaches it all', async () => {
      const { page, problems } = await watched(browser);
      await signIn(page, reader);
      const nav = page.getByRole('navigation', { name: 'Screens' });
      assert.deepEqual(await nav.getByRole('link').allInnerTexts(), ['Overview', 'Messages']);
      await page.goto(`${base}/ui/#/overview`);
      await page.getByRole('heading', { name: 'Messages by status' }).waitFor();
      assert.equal(await page.getByRole('button', { name: /Pause|Resume/ }).count(), 0, 'no pool control');
      await page.goto(`${base}/ui/#/messages?status=failed`);
      await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
      assert.equal(await page.getByRole('heading', { name: 'Bulk retry' }).count(), 0, 'no bulk retry');
      await page.goto(`${base}/ui/#/messages/${ids.failed1}`);
      await page.getByRole('heading', { name: 'Attempts' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Retry' }).count(), 0, 'no retry');

      // the keyboard: skip link first, then the screens' links, each opened with Enter
      await page.goto(`${base}/ui/#/overview`);
      await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await page.locator('body').focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement.textContent'), 'Messages');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Messages' }).waitFor();
      // the filter form by keyboard: status, then Apply
      await page.getByLabel('Status').focus();
      await page.keyboard.press('ArrowDown');
      await page.getByRole('button', { name: 'Apply' }).focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(`location.hash.includes('status=')`);
      assert.deepEqual(problems, []);
      await page.close();
    });
  });
}
