import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secretBytes, sign, verify } from '../src/delivery/signature.js';

// The example of the Standard Webhooks specification
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const EXPECTED = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

test('signs as the Standard Webhooks specification does', () => {
  assert.equal(sign(secretBytes(SECRET), ID, TS, BODY), EXPECTED);
});

test('verifies a valid signature and rejects a changed body, an old timestamp or a wrong secret', () => {
  const key = secretBytes(SECRET);
  const headers = { id: ID, timestamp: String(TS), signature: `v1,bogus ${EXPECTED}` };
  assert.equal(verify(key, headers, BODY, TS), true);
  assert.equal(verify(key, headers, BODY + ' ', TS), false);
  assert.equal(verify(key, headers, BODY, TS + 301), false);
  assert.equal(
    verify(secretBytes('whsec_' + Buffer.from('other').toString('base64')), headers, BODY, TS),
    false,
  );
  assert.equal(verify(key, { ...headers, signature: undefined }, BODY, TS), false);
});

test('several secrets (rotation): one signature each in webhook-signature; the official library verifies with either', async () => {
  const { createServer } = await import('node:http');
  const { Webhook } = await import('standardwebhooks');
  const { WebhookClient } = await import('../src/delivery/webhook-client.js');
  const oldSecret = SECRET;
  const newSecret = 'whsec_' + Buffer.from('a brand new secret of 32 bytes!!').toString('base64');
  const got: { headers: Record<string, string>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += String(c)));
    req.on('end', () => {
      got.push({ headers: req.headers as Record<string, string>, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"messageId":"m"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  try {
    for (const secrets of [[oldSecret, newSecret], [newSecret]]) {
      const client = new WebhookClient({ url, timeoutMs: 5000, signingSecrets: secrets, connections: 1 });
      const r = await client.deliver({ webhookId: 'msg_rotate', to: '+905551111111', content: 'hi' });
      await client.close();
      assert.equal(r.kind, 'delivered');
    }
    const [both, onlyNew] = got;
    assert.ok(both && onlyNew);
    assert.equal(both.headers['webhook-signature']?.split(' ').length, 2);
    // a receiver that still has the old secret, and one that already has the new one
    for (const secret of [oldSecret, newSecret]) {
      assert.deepEqual(new Webhook(secret).verify(both.body, both.headers), {
        to: '+905551111111',
        content: 'hi',
      });
    }
    assert.equal(onlyNew.headers['webhook-signature']?.split(' ').length, 1);
    assert.throws(() => new Webhook(oldSecret).verify(onlyNew.body, onlyNew.headers));
    new Webhook(newSecret).verify(onlyNew.body, onlyNew.headers);
  } finally {
    server.close();
  }
});
