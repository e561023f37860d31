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
