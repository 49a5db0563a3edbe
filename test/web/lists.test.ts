// The dashboard reads whole lists page by page: inventory answers 100 items unless told otherwise (at most
// 1,000), so a page that read one page only (the hosts page did, for workspaces, VMs and hosts) showed part of
// them. The hosts page reads each host's VMs (GET /hosts/<name>/vms/), not every workspace's. A scripted fetch
// answers like inventory's lists (limit, marker after the last name).
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { inv } from '../../web/src/api.ts';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** Answers GET <path>?limit=&marker= from `lists` (path → names, sorted) as inventory does; counts the calls. */
function scriptedInventory(lists: Record<string, string[]>, key: (path: string) => string) {
  const calls: string[] = [];
  globalThis.fetch = async (input: string | URL | Request) => {
    const url = new URL(String(input), 'http://dashboard.test');
    calls.push(url.pathname + url.search);
    const names = lists[url.pathname];
    if (!names) return new Response(JSON.stringify({ error: 'not found' }), { status: 404 });
    const limit = Number(url.searchParams.get('limit') ?? 100);
    const marker = url.searchParams.get('marker');
    const page = names.filter((n) => marker === null || n > marker).slice(0, limit);
    const items = page.map((name) => ({ name }));
    return new Response(JSON.stringify({ [key(url.pathname)]: items }), { status: 200 });
  };
  return calls;
}

const names = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

test('the VMs on every host, past a page of hosts: one read per host, none per workspace', async () => {
  const hosts = names('h', 1001);
  const lists: Record<string, string[]> = { '/hosts/': hosts };
  for (const h of hosts) lists[`/hosts/${h}/vms/`] = h === 'h00007' ? names('vm', 40) : [`${h}-vm`];
  const calls = scriptedInventory(lists, (path) => (path === '/hosts/' ? 'hosts' : 'vms'));

  const vms = await inv.placedVms();
  assert.equal(vms.length, 1000 + 40);
  assert.ok(
    vms.some((v) => v.name === 'h01000-vm'),
    'the host past the first page of hosts too',
  );
  assert.equal(calls.filter((c) => c.startsWith('/hosts/?')).length, 2, 'two pages of hosts');
  assert.equal(calls.filter((c) => /^\/hosts\/[^/?]+\/vms\/$/.test(c)).length, 1001, "each host's VMs once");
  assert.equal(calls.length, 1003);
});

test('a host deleted while its VMs are read shows none; the others still show', async () => {
  scriptedInventory({ '/hosts/': ['a', 'gone'], '/hosts/a/vms/': ['vm1'] }, (path) =>
    path === '/hosts/' ? 'hosts' : 'vms',
  );
  assert.deepEqual(await inv.placedVms(), [{ name: 'vm1' }]);
});

test('a whole list of hosts or security groups: 1,001 items are two pages', async () => {
  const calls = scriptedInventory({ '/hosts/': names('h', 1001) }, () => 'hosts');
  const hosts = await inv.list<{ name: string }>('/hosts/', 'hosts');
  assert.equal(hosts.length, 1001);
  assert.deepEqual(calls, ['/hosts/?limit=1000', '/hosts/?limit=1000&marker=h00999']);
});
