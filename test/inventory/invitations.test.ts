// Membership is no weapon (issue 14.6): adding a member is an invitation the invitee accepts, inviting tells
// nothing about which usernames exist, no member sees another's email, a user belongs to a bounded number of
// workspaces, and a token's size does not grow with memberships.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`invitations (${backend})`, () => {
    let inv: TestInventory;
    before(async () => {
      inv = await startInventory(backend, { MAX_MEMBERSHIPS: '3', MAX_INVITATIONS: '4' });
    });
    after(async () => {
      await inv?.close();
    });

    async function workspace() {
      const owner = await inv.user(uniqueName('own'));
      const ws = uniqueName('ws');
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      return { ws, owner };
    }

    void test('nobody is a member without accepting; declining leaves nothing', async () => {
      const { ws, owner } = await workspace();
      const bob = uniqueName('bob');
      const bobToken = await inv.user(bob);
      const invited = await inv.call('POST', `/${ws}/users/`, owner, { name: bob, vm_can_add: true });
      assert.equal(invited.status, 202);
      assert.deepEqual(invited.body, { name: bob, invited: true });
      assert.equal((await inv.call('GET', `/${ws}/vms/`, bobToken)).status, 403, 'not a member yet');
      const names = (await inv.call('GET', `/${ws}/users/`, owner)).body.users.map(
        (u: { name: string }) => u.name,
      );
      assert.ok(!names.includes(bob));
      const pending = (await inv.call('GET', `/${ws}/invitations/`, owner)).body.invitations;
      assert.deepEqual(
        pending.map((i: { name: string; vm_can_add: boolean }) => [i.name, i.vm_can_add]),
        [[bob, true]],
      );

      const mine = (await inv.call('GET', '/invitations/', bobToken)).body.invitations;
      assert.equal(mine.length, 1);
      assert.equal(mine[0].workspace, ws);
      assert.equal(mine[0].vm_can_add, true);
      const joined = await inv.call('POST', `/invitations/${ws}/`, bobToken);
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
      assert.equal(joined.body.vm_can_add, true);
      assert.equal((await inv.call('GET', `/${ws}/vms/`, bobToken)).status, 200, 'a member now');
      assert.deepEqual((await inv.call('GET', '/invitations/', bobToken)).body.invitations, []);
      assert.equal((await inv.call('POST', `/invitations/${ws}/`, bobToken)).status, 404, 'accepted once');

      const carol = uniqueName('carol');
      const carolToken = await inv.user(carol);
      await inv.call('POST', `/${ws}/users/`, owner, { name: carol });
      assert.equal((await inv.call('DELETE', `/invitations/${ws}/`, carolToken)).status, 200);
      assert.equal((await inv.call('POST', `/invitations/${ws}/`, carolToken)).status, 404);
      assert.equal((await inv.call('GET', `/${ws}/vms/`, carolToken)).status, 403);
      assert.deepEqual((await inv.call('GET', `/${ws}/invitations/`, owner)).body.invitations, []);
    });

    void test('inviting a user and a name nobody has answer alike', async () => {
      const { ws, owner } = await workspace();
      const real = uniqueName('real');
      await inv.user(real);
      const ghost = uniqueName('ghost');
      const a = await inv.call('POST', `/${ws}/users/`, owner, { name: real });
      const b = await inv.call('POST', `/${ws}/users/`, owner, { name: ghost });
      assert.equal(a.status, b.status);
      assert.deepEqual(Object.keys(a.body).sort(), Object.keys(b.body).sort());
      assert.deepEqual(b.body, { name: ghost, invited: true });
      // The pending list holds both names alike, too.
      const pending = (await inv.call('GET', `/${ws}/invitations/`, owner)).body.invitations;
      assert.deepEqual(pending.map((i: { name: string }) => i.name).sort(), [real, ghost].sort());
      // Cancelling works for both.
      assert.equal((await inv.call('DELETE', `/${ws}/invitations/${ghost}/`, owner)).status, 200);
      assert.equal((await inv.call('DELETE', `/${ws}/invitations/${real}/`, owner)).status, 200);
    });

    void test('no member sees another member’s email; each sees its own on /account/', async () => {
      const { ws, owner } = await workspace();
      const dan = uniqueName('dan');
      const danToken = await inv.user(dan);
      await inv.addMember(ws, owner, dan);
      const seen = JSON.stringify([
        (await inv.call('GET', `/${ws}/users/`, danToken)).body,
        (await inv.call('GET', `/workspaces/${ws}/`, danToken)).body,
        (await inv.call('GET', `/${ws}/users/${dan}/`, owner)).body,
        (await inv.call('GET', `/${ws}/invitations/`, owner)).body,
      ]);
      assert.ok(!seen.includes('@example.test'), seen);
      assert.equal((await inv.call('GET', '/account/', danToken)).body.email, `${dan}@example.test`);
    });

    void test('a user belongs to at most MAX_MEMBERSHIPS workspaces; a workspace holds MAX_INVITATIONS pending', async () => {
      const eve = uniqueName('eve');
      const eveToken = await inv.user(eve);
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { ws, owner } = await workspace();
        await inv.addMember(ws, owner, eve);
        made.push(ws);
      }
      const { ws, owner } = await workspace();
      assert.equal((await inv.call('POST', `/${ws}/users/`, owner, { name: eve })).status, 202);
      const full = await inv.call('POST', `/invitations/${ws}/`, eveToken);
      assert.equal(full.status, 409, JSON.stringify(full.body));
      assert.match(full.body.error, /at most 3 workspaces/);
      assert.equal(
        (await inv.call('POST', '/workspaces/', eveToken, { name: uniqueName('ws') })).status,
        409,
        'nor may it create one',
      );
      // Leaving one makes room.
      assert.equal((await inv.call('DELETE', `/${made[0]}/users/${eve}/`, eveToken)).status, 200);
      assert.equal(
        (await inv.call('POST', `/invitations/${ws}/`, eveToken)).status,
        201,
        'the refused acceptance left the invitation in place',
      );

      // Pending invitations per workspace are bounded too.
      const crowded = await workspace();
      for (let i = 0; i < 4; i++)
        assert.equal(
          (await inv.call('POST', `/${crowded.ws}/users/`, crowded.owner, { name: uniqueName('x') })).status,
          202,
        );
      const fifth = await inv.call('POST', `/${crowded.ws}/users/`, crowded.owner, { name: uniqueName('x') });
      assert.equal(fifth.status, 409);
    });

    void test('a token is as small with many workspaces as with one', async () => {
      const big = await startInventory(backend, { MAX_MEMBERSHIPS: '60' });
      try {
        const frank = uniqueName('frank');
        await big.user(frank);
        const one = await big.login(frank);
        const owner = await big.user(uniqueName('own'));
        for (let i = 0; i < 45; i++) {
          const ws = `${uniqueName('w')}-${'x'.repeat(50)}`;
          assert.equal((await big.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
          await big.addMember(ws, owner, frank, { vm_can_add: true, network_can_add: true });
        }
        const many = await big.login(frank);
        assert.equal(many.length, one.length, 'the token does not grow with memberships');
        assert.ok(many.length < 1024, `${many.length} bytes`);
        const account = await big.call('GET', '/account/', many);
        assert.equal(account.status, 200);
        assert.equal(account.body.workspaces.length, 45);
      } finally {
        await big.close();
      }
    });
  });
}
