/**
 * Swagger UI in a real browser (Debian's Chromium through playwright-core; no
 * browser can be downloaded here): it loads under the content security policy
 * with no violation, and its "Authorize" button works with an API key.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { testApp } from './helpers/app.js';
import { createApiKey } from '../src/auth/key-admin.js';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

function browserPath(): string | null {
  const found = CANDIDATES.find((p): p is string => !!p && existsSync(p));
  if (found) return found;
  if (process.env.CI === 'true' || process.env.REQUIRE_SERVICES === '1') {
    throw new Error(
      'Chromium is not installed but CI requires it: run scripts/services.sh up (it installs chromium)',
    );
  }
  process.stderr.write('\n!!! Chromium not found: skipping the browser test (apt-get install chromium)\n\n');
  return null;
}

test('Swagger UI: no CSP violation; Authorize with an API key, then Try it out answers 200', async (ctx) => {
  const executablePath = browserPath();
  if (!executablePath) return ctx.skip('no Chromium');
  const t = await testApp({ AUTH_KEY_REFRESH_INTERVAL: '100ms' });
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const { key } = await createApiKey(t.app.store.keys, 'browser', ['messages:read']);
    await new Promise((r) => setTimeout(r, 300)); // the node reads the new key: protected mode is over
    await t.app.server.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.server.address() as { port: number }).port;
    const page = await browser.newPage();
    const violations: string[] = [];
    const errors: string[] = [];
    await page.exposeFunction('reportViolation', (v: string) => violations.push(v));
    // in the page (a string: this file is type-checked without the DOM library)
    await page.addInitScript({
      content: `document.addEventListener('securitypolicyviolation', (e) => window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));`,
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });

    const res = await page.goto(`http://127.0.0.1:${port}/swagger/`);
    assert.ok(res?.headers()['content-security-policy'], 'the page has a CSP');
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 20_000 });
    await page.locator('#operations-messages-listMessages').waitFor();

    // without credentials the call is refused
    const op = page.locator('#operations-messages-listMessages');
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    await op.locator('.live-responses-table tbody .response-col_status').first().waitFor();
    assert.equal(
      (await op.locator('.live-responses-table tbody .response-col_status').first().innerText()).trim(),
      '401',
    );

    // Authorize: the bearer scheme, with the key
    await page.locator('.auth-wrapper button.authorize').click();
    const bearer = page.locator('.auth-container').filter({ hasText: 'bearer' }).first();
    await bearer.locator('input').first().fill(key);
    await bearer.locator('button.authorize').click();
    await page.locator('.dialog-ux button.btn-done').first().click();

    await op.locator('button.execute').click();
    await page.waitForFunction(
      `document.querySelector('#operations-messages-listMessages .live-responses-table tbody .response-col_status')?.textContent?.trim().startsWith('200')`,
    );
    // the curl line Swagger UI shows carries the key as a bearer token
    const curl = await op.locator('.curl-command').innerText();
    assert.match(curl, /Authorization: Bearer ms_/);

    assert.deepEqual(violations, [], 'content security policy violations');
    assert.deepEqual(
      errors.filter((e) => !/401|Unauthorized/.test(e)),
      [],
      'console errors',
    );
  } finally {
    await browser.close();
    await t.cleanup();
  }
});
