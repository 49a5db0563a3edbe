// Member management means what it says (issue 14.3): nobody edits its own flags, a member grants or revokes
// only flags it holds, the owner (creator, or whom it hands over to) holds every flag and is removed only by a
// hand-over, a member may leave, and services never manage members.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_PERMISSIONS, NO_PERMISSIONS, PERMISSIONS } from '../../src/lib/auth.ts';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`members (${backend})`, () => {
    let inv: TestInventory;
    before(async () => {
      inv = await startInventory(backend);
    });
    after(async () => {
      await inv?.close();
    });

    /** A workspace of a fresh owner, and fresh users holding exactly the given flags in it. */
    async function workspaceWith(...flagSets: Record<string, boolean>[]) {
      const ownerName = uniqueName('own');
      const owner = await inv.user(ownerName);
      const ws = uniqueName('ws');
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      const members: { name: string; token: string }[] = [];
      for (const flags of flagSets) {
        const name = uniqueName('m');
        const token = await inv.user(name);
        await inv.addMember(ws, owner, name, flags);
        members.push({ name, token });
      }
      return { ws, ownerName, owner, members };
    }
    const flagsOf = async (ws: string, token: string, name: string) => {
      const r = await inv.call('GET', `/${ws}/users/${name}/`, token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return Object.fromEntries(PERMISSIONS.map((p) => [p, r.body[p] as boolean]));
    };

    void test('a member holding only user_can_edit cannot grant itself everything', async () => {
      const { ws, members } = await workspaceWith({ user_can_edit: true });
      const [m] = members;
      const r = await inv.call('PUT', `/${ws}/users/${m.name}/`, m.token, ALL_PERMISSIONS);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.deepEqual(await flagsOf(ws, m.token, m.name), { ...NO_PERMISSIONS, user_can_edit: true });
    });

    void test('nobody edits its own flags, not even to give one up', async () => {
      const { ws, members } = await workspaceWith({ user_can_edit: true, vm_can_add: true });
      const [m] = members;
      const r = await inv.call('PUT', `/${ws}/users/${m.name}/`, m.token, { vm_can_add: false });
      assert.equal(r.status, 403);
      assert.equal(r.body.field, 'name');
    });

    void test('a member grants and revokes only flags it holds', async () => {
      const { ws, members } = await workspaceWith(
        { user_can_edit: true, user_can_add: true, vm_can_add: true },
        { network_can_delete: true },
      );
      const [editor, other] = members;
      const put = (body: Record<string, boolean>) =>
        inv.call('PUT', `/${ws}/users/${other.name}/`, editor.token, body);
      const grantBeyond = await put({ vm_can_delete: true });
      assert.equal(grantBeyond.status, 403, 'vm_can_delete is not the editor’s to give');
      assert.equal(grantBeyond.body.field, 'vm_can_delete');
      assert.equal((await put({ network_can_delete: false })).status, 403, 'nor network_can_delete to take');
      assert.equal(
        (await put({ vm_can_add: true, network_can_delete: true })).status,
        200,
        'no change, held',
      );
      assert.deepEqual(await flagsOf(ws, editor.token, other.name), {
        ...NO_PERMISSIONS,
        vm_can_add: true,
        network_can_delete: true,
      });
      // Adding a member with flags beyond one's own is refused too.
      const newcomer = uniqueName('new');
      await inv.user(newcomer);
      const add = await inv.call('POST', `/${ws}/users/`, editor.token, {
        name: newcomer,
        router_can_add: true,
      });
      assert.equal(add.status, 403);
      assert.equal(add.body.field, 'router_can_add');
    });

    void test('removing a member takes its flags: the remover must hold them all', async () => {
      const { ws, members } = await workspaceWith(
        { user_can_delete: true, vm_can_add: true },
        { vm_can_add: true, router_can_edit: true },
        { vm_can_add: true },
      );
      const [remover, strong, weak] = members;
      const del = (name: string) => inv.call('DELETE', `/${ws}/users/${name}/`, remover.token);
      assert.equal((await del(strong.name)).status, 403);
      assert.equal((await del(weak.name)).status, 200);
      assert.equal((await inv.call('GET', `/${ws}/vms/`, weak.token)).status, 403, 'weak is out');
      assert.equal((await inv.call('GET', `/${ws}/vms/`, strong.token)).status, 200, 'strong stays');
    });

    void test('the owner holds every flag and is removed only by handing over', async () => {
      const { ws, ownerName, owner, members } = await workspaceWith(ALL_PERMISSIONS);
      const [deputy] = members;
      const detail = await inv.call('GET', `/workspaces/${ws}/`, deputy.token);
      assert.equal(detail.body.owner, ownerName);
      assert.equal(detail.body.users.find((u: { name: string }) => u.name === ownerName).owner, true);
      assert.equal(detail.body.users.find((u: { name: string }) => u.name === deputy.name).owner, false);
      // A member holding every flag still cannot touch the owner.
      assert.equal(
        (await inv.call('PUT', `/${ws}/users/${ownerName}/`, deputy.token, { vm_can_add: false })).status,
        403,
      );
      assert.equal((await inv.call('DELETE', `/${ws}/users/${ownerName}/`, deputy.token)).status, 403);
      assert.equal((await inv.call('DELETE', `/${ws}/users/${ownerName}/`, owner)).status, 403, 'no leaving');
      assert.deepEqual(await flagsOf(ws, owner, ownerName), ALL_PERMISSIONS);
      // Only the owner hands over, and only to a member.
      assert.equal(
        (await inv.call('PUT', `/workspaces/${ws}/`, deputy.token, { owner: deputy.name })).status,
        403,
      );
      const stranger = uniqueName('str');
      await inv.user(stranger);
      const toStranger = await inv.call('PUT', `/workspaces/${ws}/`, owner, { owner: stranger });
      assert.equal(toStranger.status, 400);
      assert.equal(toStranger.body.field, 'owner');
      const handed = await inv.call('PUT', `/workspaces/${ws}/`, owner, { owner: deputy.name });
      assert.equal(handed.status, 200, JSON.stringify(handed.body));
      assert.equal(handed.body.owner, deputy.name);
      // Now the former owner is an ordinary member: the new owner may edit and remove it.
      assert.equal(
        (await inv.call('PUT', `/${ws}/users/${ownerName}/`, deputy.token, { vm_can_add: false })).status,
        200,
      );
      assert.equal((await inv.call('DELETE', `/${ws}/users/${ownerName}/`, deputy.token)).status, 200);
    });

    void test('a member may leave without any flag', async () => {
      const { ws, owner, members } = await workspaceWith({});
      const [m] = members;
      const r = await inv.call('DELETE', `/${ws}/users/${m.name}/`, m.token);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { name: m.name, deleted: true });
      const left = (await inv.call('GET', `/${ws}/users/`, owner)).body.users.map(
        (u: { name: string }) => u.name,
      );
      assert.ok(!left.includes(m.name));
    });

    void test('services do not manage members', async () => {
      const { ws, members } = await workspaceWith({});
      const service = await inv.serviceToken('controller');
      const outsider = uniqueName('out');
      await inv.user(outsider);
      assert.equal((await inv.call('POST', `/${ws}/users/`, service, { name: outsider })).status, 403);
      assert.equal(
        (await inv.call('PUT', `/${ws}/users/${members[0].name}/`, service, { vm_can_add: true })).status,
        403,
      );
      assert.equal((await inv.call('DELETE', `/${ws}/users/${members[0].name}/`, service)).status, 403);
    });
  });
}
