import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressPolicy } from '../src/http/address-policy.js';
import { addressEntryProblem } from '../src/domain/address-ranges.js';
import { ConfigError, loadConfig } from '../src/config/config.js';

test('the deny list matches named ranges and CIDRs, and IPv4 hidden in IPv6 forms', () => {
  const p = new AddressPolicy([
    'unspecified',
    'link-local',
    'metadata',
    'multicast',
    'reserved',
    '203.0.113.0/24',
    'fd12::/16',
  ]);
  const denied: [string, string][] = [
    ['169.254.169.254', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['203.0.113.9', '203.0.113.0/24'],
    ['fd12:3::1', 'fd12::/16'],
  ];
  for (const [address, entry] of denied) assert.equal(p.deniedBy(address), entry, address);
  for (const address of [
    '127.0.0.1',
    '::1',
    '10.1.2.3',
    '192.168.1.1',
    '93.184.216.34',
    '2606:4700::1111',
    'not-an-ip',
  ])
    assert.equal(p.deniedBy(address), null, address);
  const strict = new AddressPolicy(['loopback', 'private']);
  for (const address of [
    '127.0.0.1',
    '::1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    'fc00::1',
    '::ffff:127.0.0.1',
  ])
    assert.ok(strict.deniedBy(address), address);
  assert.deepEqual(strict.deniedLiteral(new URL('http://[::1]:8080/x')), {
    address: '::1',
    entry: 'loopback',
  });
  assert.equal(
    strict.deniedLiteral(new URL('http://localhost:8080/x')),
    null,
    'a name is checked when connecting',
  );
});

test('a bad deny-list entry stops start-up naming the key, the item and what was expected', () => {
  assert.equal(addressEntryProblem('private'), null);
  assert.equal(addressEntryProblem('10.0.0.0/8'), null);
  assert.match(addressEntryProblem('10.0.0.0/33') ?? '', /expected one of unspecified, loopback/);
  assert.throws(
    () =>
      loadConfig(
        { CONFIG_PATH: '.config', CONFIG_ENV: 'dev', DESTINATIONS_DENY_ADDRESSES: 'metadata intranet' },
        process.cwd(),
      ),
    (err: unknown) =>
      err instanceof ConfigError &&
      /destinations\.denyAddresses \(env DESTINATIONS_DENY_ADDRESSES\) item 2 = "intranet" is invalid: expected one of/.test(
        err.message,
      ),
  );
});
