// The dashboard reads whole lists page by page: inventory answers 100 items unless told otherwise (at most
// 1,000), so a page that read one page only (the hosts page did, for workspaces, VMs and hosts) showed part of
// them. A scripted fetch answers like inventory's lists (limit, marker after the last name).
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

test("every workspace's VMs, past a page of workspaces and a page of VMs", async () => {
  const workspaces = names('ws', 150);
  const lists: Record<string, string[]> = { '/workspaces/': workspaces };
  for (const w of workspaces) lists[`/${w}/vms/`] = w === 'ws00007' ? names('vm', 2345) : [`${w}-vm`];
  const calls = scriptedInventory(lists, (path) => (path === '/workspaces/' ? 'workspaces' : 'vms'));

  const vms = await inv.allVms();
  assert.equal(vms.length, 149 + 2345);
  assert.equal(new Set(vms.map((v) => `${v.workspace}/${v.name}`)).size, vms.length, 'no VM twice');
  assert.equal(vms.filter((v) => v.workspace === 'ws00007').length, 2345);
  assert.ok(
    vms.some((v) => v.workspace === 'ws00149' && v.name === 'ws00149-vm'),
    'the last workspace too',
  );
  // 2,345 VMs are three pages of 1,000.
  assert.equal(calls.filter((c) => c.startsWith('/ws00007/vms/')).length, 3);
});

test('a workspace deleted while its VMs are read shows none; the others still show', async () => {
  scriptedInventory({ '/workspaces/': ['a', 'gone'], '/a/vms/': ['vm1'] }, (path) =>
    path === '/workspaces/' ? 'workspaces' : 'vms',
  );
  assert.deepEqual(await inv.allVms(), [{ name: 'vm1', workspace: 'a' }]);
});

test('a whole list of hosts or security groups: 1,001 items are two pages', async () => {
  const calls = scriptedInventory({ '/hosts/': names('h', 1001) }, () => 'hosts');
  const hosts = await inv.list<{ name: string }>('/hosts/', 'hosts');
  assert.equal(hosts.length, 1001);
  assert.deepEqual(calls, ['/hosts/?limit=1000', '/hosts/?limit=1000&marker=h00999']);
});
