import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDomainList, type DomainState, type Hypervisor } from './hypervisor.ts';
import { stopDomain } from './power.ts';

test('virsh list --all is read into domain states, names with their state words', () => {
  const out = [
    ' 3    kloudak-a   running',
    ' -    kloudak-b   shut off',
    ' 7    other       paused',
    ' -    kloudak-c   crashed',
    '',
  ].join('\n');
  assert.deepEqual(
    [...parseDomainList(out)],
    [
      ['kloudak-a', 'running'],
      ['kloudak-b', 'shut off'],
      ['other', 'paused'],
      ['kloudak-c', 'crashed'],
    ],
  );
  assert.equal(parseDomainList('').size, 0);
});

/** A host's domain in the test only: the ACPI button powers it off after `offAfter` state reads (or never). */
function fakeHost(initial: DomainState | undefined, offAfter?: number) {
  let s = initial;
  let reads = 0;
  let pressed = false;
  const calls: string[] = [];
  const hv: Pick<Hypervisor, 'state' | 'shutdown' | 'destroy'> = {
    async state() {
      if (pressed && offAfter !== undefined && ++reads >= offAfter) s = 'shut off';
      return s;
    },
    async shutdown() {
      calls.push('shutdown');
      pressed = true;
    },
    async destroy() {
      calls.push('destroy');
      s = 'shut off';
    },
  };
  return { d: { hypervisor: hv as Hypervisor }, calls };
}

test('stop: a guest that powers off on the button is stopped gracefully, never destroyed', async () => {
  const { d, calls } = fakeHost('running', 2);
  assert.equal(await stopDomain(d, 'uri', 'dom', 5), 'graceful');
  assert.deepEqual(calls, ['shutdown']);
});

test('stop: a guest that ignores the button is forced off once the timeout passes', async () => {
  const { d, calls } = fakeHost('running');
  const t0 = Date.now();
  assert.equal(await stopDomain(d, 'uri', 'dom', 1), 'forced');
  assert.ok(Date.now() - t0 >= 900, 'it waited for the timeout first');
  assert.deepEqual(calls, ['shutdown', 'destroy']);
});

test('stop: already off is done; off forces at once; a domain missing from its host is an error', async () => {
  const off = fakeHost('shut off');
  assert.equal(await stopDomain(off.d, 'uri', 'dom', 5), 'already');
  assert.deepEqual(off.calls, []);
  const force = fakeHost('running', 1);
  assert.equal(await stopDomain(force.d, 'uri', 'dom', 5, true), 'forced');
  assert.deepEqual(force.calls, ['destroy']);
  await assert.rejects(stopDomain(fakeHost(undefined).d, 'uri', 'dom', 5), /not defined/);
});
