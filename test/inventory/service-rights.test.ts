// Each service its own identity with only the rights it needs (issue 14.9, src/lib/rights.ts): a monitoring
// token cannot delete a workspace or touch its objects, a compute token cannot change members or the
// catalogue, and no service token deletes a workspace or registers a host.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import type { ServiceName } from '../../src/lib/rights.ts';
import { serviceKey } from '../../src/lib/secrets.ts';
import { cliEnv, kloudak } from '../cli/support.ts';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

for (const backend of BACKENDS) {
  void describe(`service rights (${backend})`, () => {
    let inv: TestInventory;
    let owner: string;
    let admin: string;
    let member: string;
    const ws = uniqueName('ws');
    const area = uniqueName('area');
    before(async () => {
      inv = await startInventory(backend);
      admin = await inv.adminToken();
      owner = await inv.user(uniqueName('own'));
      member = uniqueName('mem');
      await inv.user(member);
      assert.equal((await inv.call('POST', '/workspaces/', owner, { name: ws })).status, 201);
      await inv.addMember(ws, owner, member, { vm_can_add: true });
      assert.equal(
        (await inv.call('POST', '/areas/', admin, { name: area, subnet: '10.61.0.0/24' })).status,
        201,
      );
      const ctl = await inv.serviceToken('controller');
      assert.equal((await inv.call('POST', `/${ws}/networks/`, ctl, { name: 'n1' })).status, 201);
    });
    after(async () => {
      await inv?.close();
    });

    const host = (name: string) => ({
      name,
      address: '10.0.0.9',
      libvirt_uri: 'qemu+ssh://root@10.0.0.9/system',
      area,
      cpus: 2,
      memory: 2,
    });

    /** [method, path, body] -> status, for one service's token. */
    const answers = async (service: ServiceName, calls: [string, string, unknown?][]) => {
      const t = await inv.serviceToken(service);
      const out: Record<string, number> = {};
      for (const [m, path, body] of calls) out[`${m} ${path}`] = (await inv.call(m, path, t, body)).status;
      return out;
    };

    void test("each service its own key: one service's key never gets another's token, nor does the secret", async () => {
      const post = (service: string, secret: string) =>
        inv.call('POST', '/service_token/', undefined, { service, secret });
      const computeKey = serviceKey(inv.serviceSecret, 'compute');
      const got = await post('compute', computeKey);
      assert.equal(got.status, 200);
      assert.equal(decodeJwt(got.body.token as string).service, 'compute');
      for (const other of ['controller', 'monitoring', 'network', 'notification'])
        assert.equal((await post(other, computeKey)).status, 401, other);
      assert.equal((await post('controller', inv.serviceSecret)).status, 401, 'the secret itself is no key');
      // The operator's way to a machine's key gives the same key.
      const { env } = cliEnv();
      const printed = await kloudak({ ...env, KLOUDAK_SERVICE_SECRET: inv.serviceSecret }, [
        'service-key',
        'compute',
      ]);
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(printed.stdout.trim(), computeKey);
    });

    void test('monitoring reads hosts, pools and VM records (to ping a silent host’s guests), and changes nothing', async () => {
      assert.deepEqual(
        await answers('monitoring', [
          ['GET', '/hosts/'],
          ['GET', '/pools/'],
          ['DELETE', `/workspaces/${ws}/`],
          ['GET', `/${ws}/vms/`],
          ['GET', `/${ws}/networks/n1/`],
          ['DELETE', `/${ws}/networks/n1/`],
          ['POST', '/hosts/', host(uniqueName('h'))],
          ['GET', `/address/${area}/get_ip/`],
        ]),
        {
          'GET /hosts/': 200,
          'GET /pools/': 200,
          [`DELETE /workspaces/${ws}/`]: 403,
          [`GET /${ws}/vms/`]: 200,
          [`GET /${ws}/networks/n1/`]: 200,
          [`DELETE /${ws}/networks/n1/`]: 403,
          'POST /hosts/': 403,
          [`GET /address/${area}/get_ip/`]: 403,
        },
      );
    });

    void test('compute reads and updates records, but changes no member, no workspace, no catalogue', async () => {
      assert.deepEqual(
        await answers('compute', [
          ['GET', `/${ws}/networks/n1/`],
          ['POST', `/${ws}/users/`, { name: uniqueName('x') }],
          ['PUT', `/${ws}/users/${member}/`, { vm_can_delete: true }],
          ['DELETE', `/${ws}/users/${member}/`],
          ['DELETE', `/workspaces/${ws}/`],
          ['POST', '/hosts/', host(uniqueName('h'))],
          ['DELETE', `/areas/${area}/`],
        ]),
        {
          [`GET /${ws}/networks/n1/`]: 200,
          [`POST /${ws}/users/`]: 403,
          [`PUT /${ws}/users/${member}/`]: 403,
          [`DELETE /${ws}/users/${member}/`]: 403,
          [`DELETE /workspaces/${ws}/`]: 403,
          'POST /hosts/': 403,
          [`DELETE /areas/${area}/`]: 403,
        },
      );
    });

    void test('network reads records but writes none; notification only checks tokens', async () => {
      assert.deepEqual(
        await answers('network', [
          ['GET', '/hosts/'],
          ['GET', `/${ws}/networks/n1/`],
          ['POST', `/${ws}/networks/`, { name: uniqueName('n') }],
          ['PUT', `/${ws}/networks/n1/`, { state: 'E' }],
        ]),
        {
          'GET /hosts/': 200,
          [`GET /${ws}/networks/n1/`]: 200,
          [`POST /${ws}/networks/`]: 403,
          [`PUT /${ws}/networks/n1/`]: 403,
        },
      );
      assert.deepEqual(
        await answers('notification', [
          ['GET', '/hosts/'],
          ['GET', `/${ws}/vms/`],
          ['GET', '/auth/changes/'],
        ]),
        { 'GET /hosts/': 403, [`GET /${ws}/vms/`]: 403, 'GET /auth/changes/': 200 },
      );
    });

    void test('every refusal left things as they were; the controller still does its work', async () => {
      const w = await inv.call('GET', `/workspaces/${ws}/`, owner);
      assert.equal(w.status, 200, 'the workspace is still there');
      assert.ok((w.body.users as { name: string }[]).some((u) => u.name === member));
      const n1 = await inv.call('GET', `/${ws}/networks/n1/`, owner);
      assert.equal(n1.status, 200);
      assert.notEqual(n1.body.state, 'E');
      assert.equal((await inv.call('GET', `/areas/${area}/`, admin)).status, 200);
      const hosts = (await inv.call('GET', '/hosts/', admin)).body.hosts as unknown[];
      assert.equal(hosts.length, 0, 'no service registered a host');
      const ctl = await inv.serviceToken('controller');
      assert.equal((await inv.call('GET', `/address/${area}/get_ip/?task=t1`, ctl)).status, 200);
      // The controller removes a workspace's records only at the end of its own teardown task (issue 14.4).
      assert.equal((await inv.call('DELETE', `/workspaces/${ws}/`, ctl)).status, 409, 'not being deleted');
    });
  });
}
