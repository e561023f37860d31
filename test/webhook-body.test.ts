/**
 * Webhook body bytes beside the original's Go client: with `go` escaping (the
 * default) every body is byte for byte what encoding/json writes, checked
 * against Go itself; `plain` is JSON.stringify's. Both parse to the same value.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { webhookBody } from '../src/delivery/webhook-body.js';
import { Sink } from '../bench/sink.js';
import { WebhookClient } from '../src/delivery/webhook-client.js';

const go = spawnSync('go', ['version']).status === 0;
if (!go && (process.env.CI === 'true' || process.env.REQUIRE_SERVICES === '1')) {
  throw new Error('go is not installed but CI/REQUIRE_SERVICES requires it (the original is Go)');
}

// every character the two encoders could treat differently, in content and in the phone number
const ASCII = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join('');
const CASES: Array<[string, string]> = [
  ['+905551111111', 'Tom & Jerry <tom@example.com> -> done'],
  ['<script>', '</script>&amp;'],
  ['+90 555 111 11 11', 'line\u2028separator\u2029paragraph'],
  ['+1', ASCII.slice(1)],
  ['+1', 'emoji 😀 accents é ü ß, CJK 漢字, RTL \u202e, BOM \ufeff, NBSP \u00a0, \u0085 \u00ad \u061c'],
  ['+1', '\u2027\u202a\u2030 \ufffd \uffff 𝄞'],
  ['a&b', 'plain text, nothing to escape'],
];

function goBodies(pairs: Array<[string, string]>): string[] {
  const r = spawnSync('go', ['run', '.'], {
    cwd: 'test/fixtures/go-json',
    input: JSON.stringify(pairs),
    encoding: 'utf8',
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').slice(0, pairs.length);
}

test(
  "`go` escaping writes the original's bytes for every case; both escapings are the same JSON",
  { skip: !go },
  () => {
    const expected = goBodies(CASES);
    CASES.forEach(([to, content], i) => {
      const ours = webhookBody(to, content, 'go');
      assert.equal(ours, expected[i], `case ${i}`);
      assert.deepEqual(JSON.parse(webhookBody(to, content, 'plain')), JSON.parse(ours));
    });
    assert.equal(webhookBody('+1', 'a&b', 'plain'), '{"to":"+1","content":"a&b"}');
  },
);

test('the receiver gets the configured bytes, and the signature is over those bytes', async () => {
  const secret = 'whsec_' + Buffer.from('a-test-secret-of-some-length').toString('base64');
  const sink = new Sink({ port: 0, keep: 10, secret });
  const port = await sink.start();
  try {
    for (const [escaping, expected] of [
      ['go', '{"to":"+1","content":"\\u003cb\\u003e \\u0026 \\u2028"}'],
      ['plain', '{"to":"+1","content":"<b> & \u2028"}'],
    ] as const) {
      const client = new WebhookClient({
        url: `http://127.0.0.1:${port}/hook`,
        timeoutMs: 5000,
        signingSecrets: [secret],
        connections: 1,
        bodyEscaping: escaping,
      });
      try {
        const r = await client.deliver({ to: '+1', content: '<b> & \u2028', webhookId: `msg_${escaping}` });
        assert.equal(r.kind, 'delivered', JSON.stringify(r));
        const got = sink.deliveries().find((d) => d.webhook_id === `msg_${escaping}`);
        assert.equal(got?.body, expected, escaping);
        // the sink checked the signature over these bytes (401 otherwise)
        assert.equal(got?.signature_valid, true);
      } finally {
        await client.close();
      }
    }
  } finally {
    await sink.stop();
  }
});
