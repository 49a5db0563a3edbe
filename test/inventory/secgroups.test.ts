// Security group records (issue 17): every workspace has its `default` group, members read groups, services
// write them, rules are checked field by field, VMs name the groups they belong to, and a group in use (by a
// VM, or named by another group's rules) cannot go.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`security groups (${backend})`, () => {
    let inv: TestInventory;
    let service: string;
    let owner: string;
    let stranger: string;
    let template: string;
    let area: string;

    const call = (method: string, path: string, token: string, body?: unknown) =>
      inv.call(method, path, token, body);
    const ok = async (method: string, path: string, token: string, body?: unknown) => {
      const r = await call(method, path, token, body);
      assert.ok(
        r.status === 200 || r.status === 201,
        `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`,
      );
      return r.body as Record<string, unknown>;
    };

    before(async () => {
      inv = await startInventory(backend);
      const admin = await inv.adminToken();
      service = await inv.serviceToken();
      owner = await inv.user(uniqueName('owner'));
      stranger = await inv.user(uniqueName('stranger'));
      template = uniqueName('tpl');
      await ok('POST', '/templates/', admin, { name: template, os: 'debian-12', cpu: 1, ram: 1, disk: 1 });
      area = uniqueName('area');
      await ok('POST', '/areas/', admin, { name: area, subnet: '10.81.0.0/24' });
    });
    after(async () => {
      await inv?.close();
    });

    void test('a new workspace has its default group; members read, strangers and users cannot write', async () => {
      const ws = uniqueName('ws');
      await ok('POST', '/workspaces/', owner, { name: ws });
      const list = await ok('GET', `/${ws}/security_groups/`, owner);
      assert.deepEqual(list.security_groups, [
        {
          name: 'default',
          description: 'all egress; ingress from members of this group',
          rules: [
            { direction: 'egress', protocol: 'any', remote_cidr: '0.0.0.0/0' },
            { direction: 'ingress', protocol: 'any', remote_group: 'default' },
          ],
        },
      ]);
      assert.equal((await call('GET', `/${ws}/security_groups/default/`, stranger)).status, 403);
      const body = { name: 'web', rules: [] };
      assert.equal((await call('POST', `/${ws}/security_groups/`, owner, body)).status, 403);
      assert.equal((await call('GET', `/${ws}/security_groups/web/`, owner)).status, 404);
    });

    void test('rules are checked field by field, and nothing is stored on a refusal', async () => {
      const ws = uniqueName('ws');
      await ok('POST', '/workspaces/', owner, { name: ws });
      const bad: [unknown, string][] = [
        [{ direction: 'in', protocol: 'tcp' }, 'rules.0.direction'],
        [{ direction: 'ingress', protocol: 'icmp', port_min: 22 }, 'rules.0.port_min'],
        [{ direction: 'ingress', protocol: 'tcp', port_min: 90, port_max: 80 }, 'rules.0.port_max'],
        [{ direction: 'ingress', protocol: 'tcp', remote_cidr: '10.0.0.1/8' }, 'rules.0.remote_cidr'],
        [{ direction: 'ingress', protocol: 'tcp', remote_group: 'nope' }, 'rules.0.remote_group'],
        [
          { direction: 'ingress', protocol: 'tcp', remote_group: 'default', remote_cidr: '10.0.0.0/8' },
          'rules.0.remote_group',
        ],
      ];
      for (const [rule, field] of bad) {
        const r = await call('POST', `/${ws}/security_groups/`, service, { name: 'web', rules: [rule] });
        assert.equal(r.status, 400, JSON.stringify(rule));
        assert.equal((r.body as { field?: string }).field, field, JSON.stringify(r.body));
      }
      assert.equal((await call('GET', `/${ws}/security_groups/web/`, owner)).status, 404);
    });

    void test('VMs belong to groups; a group in use or named by another cannot go', async () => {
      const ws = uniqueName('ws');
      await ok('POST', '/workspaces/', owner, { name: ws });
      const web = {
        name: 'web',
        description: 'http from anywhere, icmp from default',
        rules: [
          { direction: 'ingress', protocol: 'tcp', port_min: 80, port_max: 80, remote_cidr: '0.0.0.0/0' },
          { direction: 'ingress', protocol: 'icmp', remote_group: 'default' },
          { direction: 'ingress', protocol: 'udp', remote_group: 'web' },
        ],
      };
      assert.deepEqual(await ok('POST', `/${ws}/security_groups/`, service, web), web);
      const vm = uniqueName('vm');
      const bad = await call('POST', `/${ws}/vms/`, service, {
        name: vm,
        area,
        template,
        security_groups: ['web', 'nope'],
      });
      assert.equal(bad.status, 400);
      assert.equal((bad.body as { field?: string }).field, 'security_groups');
      const made = await ok('POST', `/${ws}/vms/`, service, {
        name: vm,
        area,
        template,
        security_groups: ['web'],
      });
      assert.deepEqual(made.security_groups, ['web']);
      const del = await call('DELETE', `/${ws}/security_groups/web/`, service);
      assert.equal(del.status, 409);
      assert.match((del.body as { error: string }).error, new RegExp(vm));
      assert.equal((await call('DELETE', `/${ws}/security_groups/default/`, service)).status, 409);
      const moved = await ok('PUT', `/${ws}/vms/${vm}/`, service, { security_groups: [] });
      assert.deepEqual(moved.security_groups, []);
      // 'default' is still named by web's icmp rule.
      const still = await call('DELETE', `/${ws}/security_groups/default/`, service);
      assert.equal(still.status, 409);
      assert.match((still.body as { error: string }).error, /web/);
      const changed = await ok('PUT', `/${ws}/security_groups/web/`, service, { rules: [] });
      assert.deepEqual(changed.rules, []);
      await ok('DELETE', `/${ws}/security_groups/web/`, service);
      assert.equal((await call('GET', `/${ws}/security_groups/web/`, owner)).status, 404);
    });
  });
}
