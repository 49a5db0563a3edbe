// Bad input: every endpoint validates its body and parameters. Wrong types, missing fields, unknown references,
// duplicates, bad names: a 4xx with a JSON error naming the field, never a 500, and nothing half-written.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { uniqueName } from '../support/env.ts';
import { BACKENDS, startInventory, type TestInventory } from '../support/inventory.ts';

type Who = 'none' | 'owner' | 'admin' | 'service';
interface Case {
  why: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  as: Who;
  body?: unknown;
  status: number;
  field: string;
  /** A path that must still answer 404 afterwards (nothing half-written). */
  absent?: string;
}

const LONG = 'n'.repeat(65);
const NUL = 'nul\u0000byte';

for (const backend of BACKENDS) {
  void describe(`validation (${backend})`, () => {
    let inv: TestInventory;
    const tokens = {} as Record<Who, string | undefined>;
    const x = {
      ws: uniqueName('ws'),
      member: uniqueName('mem'),
      vm: uniqueName('vm'),
      vm2: uniqueName('vm'),
      net: uniqueName('net'),
      net2: uniqueName('net'),
      router: uniqueName('rt'),
      template: uniqueName('tpl'),
      area: uniqueName('area'),
      host: uniqueName('host'),
      pool: uniqueName('pool'),
    };
    const fresh = uniqueName('fresh'); // never created by a valid request

    const call = (who: Who, method: string, path: string, body?: unknown) =>
      inv.call(method, path, tokens[who], body);
    const must = async (who: Who, method: string, path: string, body?: unknown) => {
      const r = await call(who, method, path, body);
      assert.ok(r.status < 300, `fixture ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    };

    before(async () => {
      inv = await startInventory(backend);
      tokens.admin = await inv.adminToken();
      tokens.service = await inv.serviceToken();
      tokens.owner = await inv.user(uniqueName('owner'));
      await inv.user(x.member);
      await must('owner', 'POST', '/workspaces/', { name: x.ws });
      await inv.addMember(x.ws, tokens.owner, x.member);
      await must('admin', 'POST', '/templates/', { name: x.template, cpu: 1, ram: 1, disk: 5 });
      await must('admin', 'POST', '/areas/', { name: x.area, subnet: '10.60.0.0/24' });
      await must('admin', 'POST', '/hosts/', {
        name: x.host,
        address: 'h1.lab',
        libvirt_uri: 'qemu+ssh://root@10.0.0.11/system',
        area: x.area,
        cpus: 2,
        memory: 4,
      });
      await must('admin', 'POST', '/pools/', { name: x.pool, path: '/srv/pool', area: x.area, size: 50 });
      await must('service', 'POST', `/${x.ws}/networks/`, { name: x.net, subnet: '172.16.5.0/24' });
      await must('service', 'POST', `/${x.ws}/networks/`, { name: x.net2 });
      await must('service', 'POST', `/${x.ws}/routers/`, { name: x.router });
      await must('service', 'POST', `/${x.ws}/routers/${x.router}/interfaces/`, {
        network: x.net,
        ip: '172.16.5.1',
      });
      await must('service', 'POST', `/${x.ws}/vms/`, {
        name: x.vm,
        area: x.area,
        template: x.template,
        networks: [x.net],
      });
      await must('service', 'POST', `/${x.ws}/vms/`, { name: x.vm2, area: x.area, template: x.template });
    });
    after(async () => {
      await inv?.close();
    });

    const cases = (): Case[] => {
      const vms = `/${x.ws}/vms/`;
      const vmOk = { name: fresh, area: x.area, template: x.template };
      const vmAbsent = `${vms}${fresh}/`;
      const nets = `/${x.ws}/networks/`;
      const itf = `/${x.ws}/routers/${x.router}/interfaces/`;
      const tpl = { name: fresh, cpu: 1, ram: 1, disk: 5 };
      const host = {
        name: fresh,
        address: 'h2.lab',
        libvirt_uri: 'qemu+ssh://root@10.0.0.11/system',
        area: x.area,
        cpus: 2,
        memory: 4,
      };
      const pool = { name: fresh, path: '/srv/p2', area: x.area, size: 10 };
      const c = (
        why: string,
        method: Case['method'],
        path: string,
        as: Who,
        body: unknown,
        status: number,
        field: string,
        absent?: string,
      ): Case => ({ why, method, path, as, body, status, field, absent });
      return [
        c('signup without fields', 'POST', '/signup/', 'none', {}, 400, 'username'),
        c(
          'signup name too long',
          'POST',
          '/signup/',
          'none',
          { username: LONG, password: 'password1', email: 'a@b.test' },
          400,
          'username',
        ),
        c(
          'signup name with a space',
          'POST',
          '/signup/',
          'none',
          { username: 'bad name', password: 'password1', email: 'a@b.test' },
          400,
          'username',
        ),
        c(
          'signup name a number',
          'POST',
          '/signup/',
          'none',
          { username: 7, password: 'password1', email: 'a@b.test' },
          400,
          'username',
        ),
        c(
          'signup short password',
          'POST',
          '/signup/',
          'none',
          { username: fresh, password: 'short', email: 'a@b.test' },
          400,
          'password',
        ),
        c(
          'signup bad email',
          'POST',
          '/signup/',
          'none',
          { username: fresh, password: 'password1', email: 'not-an-email' },
          400,
          'email',
        ),
        c('login without password', 'POST', '/login/', 'none', { username: x.member }, 400, 'password'),
        c(
          'login name not a string',
          'POST',
          '/login/',
          'none',
          { username: ['a'], password: 'password1' },
          400,
          'username',
        ),
        c(
          'login name with a NUL byte',
          'POST',
          '/login/',
          'none',
          { username: NUL, password: 'password1' },
          400,
          'username',
        ),
        c('service token without fields', 'POST', '/service_token/', 'none', {}, 400, 'service'),
        c('workspace without name', 'POST', '/workspaces/', 'owner', {}, 400, 'name'),
        c('workspace name too long', 'POST', '/workspaces/', 'owner', { name: LONG }, 400, 'name'),
        c('workspace name with a slash', 'POST', '/workspaces/', 'owner', { name: 'a/b' }, 400, 'name'),
        c('workspace name ..', 'POST', '/workspaces/', 'owner', { name: '..' }, 400, 'name'),
        c('workspace name a number', 'POST', '/workspaces/', 'owner', { name: 12 }, 400, 'name'),
        c(
          'workspace named like a claim (username)',
          'POST',
          '/workspaces/',
          'owner',
          { name: 'username' },
          400,
          'name',
          '/workspaces/username/',
        ),
        c(
          'workspace named like a claim (exp)',
          'POST',
          '/workspaces/',
          'owner',
          { name: 'exp' },
          400,
          'name',
          '/workspaces/exp/',
        ),
        c(
          'workspace named like the admin claim',
          'POST',
          '/workspaces/',
          'owner',
          { name: 'kloudak_admin' },
          400,
          'name',
        ),
        c('duplicate workspace', 'POST', '/workspaces/', 'owner', { name: x.ws }, 409, 'name'),
        c('workspace path too long', 'GET', `/workspaces/${LONG}/`, 'admin', undefined, 400, 'ws'),
        c('member without name', 'POST', `/${x.ws}/users/`, 'owner', {}, 400, 'name'),
        c(
          'member flag not boolean',
          'POST',
          `/${x.ws}/users/`,
          'owner',
          { name: x.member, vm_can_add: 'yes' },
          400,
          'vm_can_add',
        ),
        c('duplicate member', 'POST', `/${x.ws}/users/`, 'owner', { name: x.member }, 409, 'name'),
        c('member update without flags', 'PUT', `/${x.ws}/users/${x.member}/`, 'owner', {}, 400, 'body'),
        c(
          'member update flag a number',
          'PUT',
          `/${x.ws}/users/${x.member}/`,
          'owner',
          { user_can_add: 1 },
          400,
          'user_can_add',
        ),
        c(
          'member update of a non-member',
          'PUT',
          `/${x.ws}/users/${fresh}/`,
          'owner',
          { user_can_add: true },
          404,
          'name',
        ),
        c('remove a non-member', 'DELETE', `/${x.ws}/users/${fresh}/`, 'owner', undefined, 404, 'name'),
        c('member path name bad', 'GET', `/${x.ws}/users/bad%20name/`, 'owner', undefined, 400, 'name'),
        c('vm in unknown workspace', 'POST', `/${fresh}/vms/`, 'service', vmOk, 404, 'workspace'),
        c('vm without name', 'POST', vms, 'service', { area: x.area, template: x.template }, 400, 'name'),
        c(
          'vm without area',
          'POST',
          vms,
          'service',
          { name: fresh, template: x.template },
          400,
          'area',
          vmAbsent,
        ),
        c(
          'vm without template',
          'POST',
          vms,
          'service',
          { name: fresh, area: x.area },
          400,
          'template',
          vmAbsent,
        ),
        c(
          'vm unknown area',
          'POST',
          vms,
          'service',
          { ...vmOk, area: uniqueName('no') },
          400,
          'area',
          vmAbsent,
        ),
        c(
          'vm unknown template',
          'POST',
          vms,
          'service',
          { ...vmOk, template: uniqueName('no') },
          400,
          'template',
          vmAbsent,
        ),
        c(
          'vm unknown network',
          'POST',
          vms,
          'service',
          { ...vmOk, networks: [x.net, uniqueName('no')] },
          400,
          'networks',
          vmAbsent,
        ),
        c(
          'vm networks not a list',
          'POST',
          vms,
          'service',
          { ...vmOk, networks: x.net },
          400,
          'networks',
          vmAbsent,
        ),
        c(
          'vm network name a number',
          'POST',
          vms,
          'service',
          { ...vmOk, networks: [5] },
          400,
          'networks.0',
          vmAbsent,
        ),
        c(
          'vm networks repeated',
          'POST',
          vms,
          'service',
          { ...vmOk, networks: [x.net, x.net] },
          400,
          'networks',
          vmAbsent,
        ),
        c('vm unknown state', 'POST', vms, 'service', { ...vmOk, state: 'Q' }, 400, 'state', vmAbsent),
        c('vm ip a number', 'POST', vms, 'service', { ...vmOk, ip: 167772161 }, 400, 'ip', vmAbsent),
        c(
          'vm ip with a NUL byte',
          'POST',
          vms,
          'service',
          { ...vmOk, ip: '10.60.0.9\u0000' },
          400,
          'ip',
          vmAbsent,
        ),
        c('vm ip empty', 'POST', vms, 'service', { ...vmOk, ip: '' }, 400, 'ip', vmAbsent),
        c(
          'vm description too long',
          'POST',
          vms,
          'service',
          { ...vmOk, description: 'd'.repeat(1025) },
          400,
          'description',
          vmAbsent,
        ),
        c(
          'vm description with a NUL byte',
          'POST',
          vms,
          'service',
          { ...vmOk, description: NUL },
          400,
          'description',
          vmAbsent,
        ),
        c('vm name too long', 'POST', vms, 'service', { ...vmOk, name: LONG }, 400, 'name'),
        c('vm name with a semicolon', 'POST', vms, 'service', { ...vmOk, name: 'a;reboot' }, 400, 'name'),
        c('duplicate vm', 'POST', vms, 'service', { ...vmOk, name: x.vm }, 409, 'name'),
        c('vm update unknown state', 'PUT', `${vms}${x.vm}/`, 'service', { state: 'Z' }, 400, 'state'),
        c(
          'vm update unknown network',
          'PUT',
          `${vms}${x.vm}/`,
          'service',
          { networks: [uniqueName('no')] },
          400,
          'networks',
        ),
        c(
          'vm update interface ip outside the network',
          'PUT',
          `${vms}${x.vm}/`,
          'service',
          { interfaces: [{ network: x.net, ip: '10.1.1.1' }] },
          400,
          'interfaces',
        ),
        c(
          'vm update interface bad mac',
          'PUT',
          `${vms}${x.vm}/`,
          'service',
          { interfaces: [{ network: x.net, mac: 'zz' }] },
          400,
          'interfaces.0.mac',
        ),
        c(
          'vm update interface on a network it is not on',
          'PUT',
          `${vms}${x.vm2}/`,
          'service',
          { interfaces: [{ network: x.net2, ip: '10.1.1.1' }] },
          400,
          'interfaces',
        ),
        c('vm renamed onto another', 'PUT', `${vms}${x.vm2}/`, 'service', { name: x.vm }, 409, 'name'),
        c('unknown vm update', 'PUT', vmAbsent, 'service', { state: 'U' }, 404, 'name'),
        c('unknown vm delete', 'DELETE', vmAbsent, 'service', undefined, 404, 'name'),
        c('network without name', 'POST', nets, 'service', {}, 400, 'name'),
        c(
          'network vlan 0',
          'POST',
          nets,
          'service',
          { name: fresh, vlan: 0 },
          400,
          'vlan',
          `${nets}${fresh}/`,
        ),
        c(
          'network vlan 4095',
          'POST',
          nets,
          'service',
          { name: fresh, vlan: 4095 },
          400,
          'vlan',
          `${nets}${fresh}/`,
        ),
        c(
          'network vlan a string',
          'POST',
          nets,
          'service',
          { name: fresh, vlan: '7' },
          400,
          'vlan',
          `${nets}${fresh}/`,
        ),
        c(
          'network subnet not a subnet',
          'POST',
          nets,
          'service',
          { name: fresh, subnet: 'nope' },
          400,
          'subnet',
          `${nets}${fresh}/`,
        ),
        c(
          'network subnet with host bits',
          'POST',
          nets,
          'service',
          { name: fresh, subnet: '10.0.0.1/24' },
          400,
          'subnet',
          `${nets}${fresh}/`,
        ),
        c(
          'network unknown state',
          'POST',
          nets,
          'service',
          { name: fresh, state: 'Q' },
          400,
          'state',
          `${nets}${fresh}/`,
        ),
        c(
          'network description with a NUL byte',
          'POST',
          nets,
          'service',
          { name: fresh, description: NUL },
          400,
          'description',
          `${nets}${fresh}/`,
        ),
        c('duplicate network', 'POST', nets, 'service', { name: x.net }, 409, 'name'),
        c('network update with nothing', 'PUT', `${nets}${x.net}/`, 'service', {}, 400, 'body'),
        c(
          'network renamed onto another',
          'PUT',
          `${nets}${x.net2}/`,
          'service',
          { name: x.net },
          409,
          'name',
        ),
        c('unknown network update', 'PUT', `${nets}${fresh}/`, 'service', { state: 'U' }, 404, 'name'),
        c('network in use deleted', 'DELETE', `${nets}${x.net}/`, 'service', undefined, 409, 'name'),
        c('router without name', 'POST', `/${x.ws}/routers/`, 'service', {}, 400, 'name'),
        c(
          'router unknown state',
          'POST',
          `/${x.ws}/routers/`,
          'service',
          { name: fresh, state: 'Q' },
          400,
          'state',
          `/${x.ws}/routers/${fresh}/`,
        ),
        c('duplicate router', 'POST', `/${x.ws}/routers/`, 'service', { name: x.router }, 409, 'name'),
        c('interface without network', 'POST', itf, 'service', { ip: '10.0.0.1' }, 400, 'network'),
        c('interface without ip', 'POST', itf, 'service', { network: x.net2 }, 400, 'ip', `${itf}${x.net2}/`),
        c(
          'interface unknown network',
          'POST',
          itf,
          'service',
          { network: fresh, ip: '10.0.0.1' },
          400,
          'network',
        ),
        c(
          'interface ip outside the network',
          'POST',
          itf,
          'service',
          { network: x.net, ip: '172.16.6.1' },
          400,
          'ip',
        ),
        c(
          'interface ip not an address',
          'POST',
          itf,
          'service',
          { network: x.net2, ip: 'router' },
          400,
          'ip',
          `${itf}${x.net2}/`,
        ),
        c(
          'duplicate interface',
          'POST',
          itf,
          'service',
          { network: x.net, ip: '172.16.5.2' },
          409,
          'network',
        ),
        c(
          'interface on unknown router',
          'POST',
          `/${x.ws}/routers/${fresh}/interfaces/`,
          'service',
          { network: x.net2, ip: '10.0.0.1' },
          404,
          'router',
        ),
        c(
          'template without cpu',
          'POST',
          '/templates/',
          'admin',
          { name: fresh, ram: 1, disk: 5 },
          400,
          'cpu',
          `/templates/${fresh}/`,
        ),
        c(
          'template cpu a string',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, cpu: '2' },
          400,
          'cpu',
          `/templates/${fresh}/`,
        ),
        c(
          'template cpu fractional',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, cpu: 1.5 },
          400,
          'cpu',
          `/templates/${fresh}/`,
        ),
        c(
          'template ram 0',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, ram: 0 },
          400,
          'ram',
          `/templates/${fresh}/`,
        ),
        c(
          'template disk negative',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, disk: -1 },
          400,
          'disk',
          `/templates/${fresh}/`,
        ),
        c(
          'template image with a space',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, image: 'a b.qcow2' },
          400,
          'image',
          `/templates/${fresh}/`,
        ),
        c(
          'template os with a NUL byte',
          'POST',
          '/templates/',
          'admin',
          { ...tpl, os: NUL },
          400,
          'os',
          `/templates/${fresh}/`,
        ),
        c('duplicate template', 'POST', '/templates/', 'admin', { ...tpl, name: x.template }, 409, 'name'),
        c('template in use deleted', 'DELETE', `/templates/${x.template}/`, 'admin', undefined, 409, 'name'),
        c('unknown template update', 'PUT', `/templates/${fresh}/`, 'admin', tpl, 404, 'name'),
        c(
          'area without subnet',
          'POST',
          '/areas/',
          'admin',
          { name: fresh },
          400,
          'subnet',
          `/areas/${fresh}/`,
        ),
        c(
          'area subnet too big',
          'POST',
          '/areas/',
          'admin',
          { name: fresh, subnet: '10.0.0.0/8' },
          400,
          'subnet',
          `/areas/${fresh}/`,
        ),
        c(
          'area subnet garbage',
          'POST',
          '/areas/',
          'admin',
          { name: fresh, subnet: 'x' },
          400,
          'subnet',
          `/areas/${fresh}/`,
        ),
        c(
          'area gateway outside',
          'POST',
          '/areas/',
          'admin',
          { name: fresh, subnet: '10.61.0.0/24', gateway: '10.62.0.1' },
          400,
          'gateway',
          `/areas/${fresh}/`,
        ),
        c(
          'area next_ip outside',
          'POST',
          '/areas/',
          'admin',
          { name: fresh, subnet: '10.61.0.0/24', next_ip: '10.61.1.5' },
          400,
          'next_ip',
          `/areas/${fresh}/`,
        ),
        c(
          'duplicate area',
          'POST',
          '/areas/',
          'admin',
          { name: x.area, subnet: '10.61.0.0/24' },
          409,
          'name',
        ),
        c('area in use deleted', 'DELETE', `/areas/${x.area}/`, 'admin', undefined, 409, 'name'),
        c(
          'host unknown area',
          'POST',
          '/hosts/',
          'admin',
          { ...host, area: uniqueName('no') },
          400,
          'area',
          `/hosts/${fresh}/`,
        ),
        c('host cpus 0', 'POST', '/hosts/', 'admin', { ...host, cpus: 0 }, 400, 'cpus', `/hosts/${fresh}/`),
        c(
          'host bad libvirt uri',
          'POST',
          '/hosts/',
          'admin',
          { ...host, libvirt_uri: 'no uri' },
          400,
          'libvirt_uri',
          `/hosts/${fresh}/`,
        ),
        // Host keys always checked, no program run: only SSH transports with the platform's parameters.
        ...[
          'qemu+libssh://root@10.0.0.11/system?known_hosts_verify=ignore',
          'qemu+ssh://root@10.0.0.11/system?no_verify=1',
          'qemu+ext:///system?command=/bin/sh',
          'qemu+ssh://root@10.0.0.11/system?netcat=/tmp/nc',
          'qemu+tcp://10.0.0.11/system',
          'qemu:///system',
        ].flatMap((uri) => [
          c(
            `host libvirt uri ${uri}`,
            'POST',
            '/hosts/',
            'admin',
            { ...host, libvirt_uri: uri },
            400,
            'libvirt_uri',
            `/hosts/${fresh}/`,
          ),
          c(
            `host update to libvirt uri ${uri}`,
            'PUT',
            `/hosts/${x.host}/`,
            'admin',
            { ...host, name: x.host, libvirt_uri: uri },
            400,
            'libvirt_uri',
          ),
        ]),
        c(
          'host unknown domain type',
          'POST',
          '/hosts/',
          'admin',
          { ...host, domain_type: 'xen' },
          400,
          'domain_type',
          `/hosts/${fresh}/`,
        ),
        c(
          'host address with a space',
          'POST',
          '/hosts/',
          'admin',
          { ...host, address: 'a b' },
          400,
          'address',
          `/hosts/${fresh}/`,
        ),
        c('duplicate host', 'POST', '/hosts/', 'admin', { ...host, name: x.host }, 409, 'name'),
        c(
          'pool relative path',
          'POST',
          '/pools/',
          'admin',
          { ...pool, path: 'srv/p' },
          400,
          'path',
          `/pools/${fresh}/`,
        ),
        c(
          'pool unknown area',
          'POST',
          '/pools/',
          'admin',
          { ...pool, area: uniqueName('no') },
          400,
          'area',
          `/pools/${fresh}/`,
        ),
        c('pool size 0', 'POST', '/pools/', 'admin', { ...pool, size: 0 }, 400, 'size', `/pools/${fresh}/`),
        c('duplicate pool', 'POST', '/pools/', 'admin', { ...pool, name: x.pool }, 409, 'name'),
        c('get_ip area name too long', 'GET', `/address/${LONG}/get_ip/`, 'admin', undefined, 400, 'area'),
        c('list limit not a number', 'GET', `${vms}?limit=abc`, 'service', undefined, 400, 'limit'),
        c('list limit negative', 'GET', `/templates/?limit=-1`, 'admin', undefined, 400, 'limit'),
        c('list marker not a name', 'GET', `${nets}?marker=a%20b`, 'service', undefined, 400, 'marker'),
      ];
    };

    void test('every bad request gets its 4xx with a JSON error naming the field, and leaves nothing behind', async () => {
      const wrong: string[] = [];
      for (const k of cases()) {
        const r = await call(k.as, k.method, k.path, k.body);
        const got = `${r.status} ${r.body?.field}`;
        if (got !== `${k.status} ${k.field}` || typeof r.body?.error !== 'string')
          wrong.push(`${k.why}: want ${k.status} ${k.field}, got ${r.status} ${JSON.stringify(r.body)}`);
        if (k.absent) {
          const left = await call('admin', 'GET', k.absent);
          const l2 = left.status === 403 ? await call('service', 'GET', k.absent) : left;
          if (l2.status !== 404) wrong.push(`${k.why}: ${k.absent} was written (${l2.status})`);
        }
      }
      assert.deepEqual(wrong, []);
      // Refused updates left the host's URI as it was.
      const h = await call('admin', 'GET', `/hosts/${x.host}/`);
      assert.equal((h.body as { libvirt_uri?: string }).libvirt_uri, 'qemu+ssh://root@10.0.0.11/system');
    });

    void test("a workspace cannot take a name the inventory's own routes start with (it would be shadowed)", async () => {
      const doc = (await call('none', 'GET', '/openapi.json')).body as { paths: Record<string, unknown> };
      const firsts = new Set(
        Object.keys(doc.paths)
          .map((p) => p.split('/')[1] ?? '')
          .filter((seg) => seg && !seg.startsWith('{')),
      );
      for (const hidden of ['healthz', 'metrics', 'openapi.json']) firsts.add(hidden);
      assert.ok(
        ['templates', 'areas', 'hosts', 'pools', 'workspaces', 'address', 'login'].every((n) =>
          firsts.has(n),
        ),
        [...firsts].join(' '),
      );
      for (const name of firsts) {
        const r = await call('owner', 'POST', '/workspaces/', { name });
        assert.deepEqual(
          [r.status, r.body.field],
          [400, 'name'],
          `workspace ${name}: ${JSON.stringify(r.body)}`,
        );
      }
      const names = ((await call('admin', 'GET', '/workspaces/')).body.workspaces as { name: string }[]).map(
        (w) => w.name,
      );
      assert.ok(!names.some((n) => firsts.has(n)));
    });

    void test('malformed bodies: bad JSON, empty JSON, a list, a wrong content type, too large', async () => {
      const raw = (body: string, type = 'application/json') =>
        fetch(`${inv.url}/workspaces/`, {
          method: 'POST',
          headers: { token: tokens.owner!, 'content-type': type },
          body,
        }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { error: string; field?: string },
        }));
      for (const [body, type, status] of [
        ['{"name":', 'application/json', 400],
        ['', 'application/json', 400],
        ['[]', 'application/json', 400],
        ['"ws"', 'application/json', 400],
        ['name=x', 'text/plain', 400],
        ['<name>x</name>', 'application/xml', 415],
        [JSON.stringify({ name: 'x', pad: 'p'.repeat(2 << 20) }), 'application/json', 413],
      ] as const) {
        const r = await raw(body, type);
        assert.equal(r.status, status, `${body.slice(0, 20)}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.field, 'body', body.slice(0, 20));
        assert.equal(typeof r.body.error, 'string');
      }
    });

    void test('fuzzed bodies and path names never get a 500', async () => {
      const templates: [string, string, Who, string[]][] = [
        ['POST', '/signup/', 'none', ['username', 'password', 'email']],
        ['POST', '/login/', 'none', ['username', 'password']],
        ['POST', '/workspaces/', 'owner', ['name']],
        ['POST', `/${x.ws}/users/`, 'owner', ['name', 'vm_can_add', 'user_can_edit']],
        ['PUT', `/${x.ws}/users/${x.member}/`, 'owner', ['vm_can_add', 'router_can_delete']],
        [
          'POST',
          `/${x.ws}/vms/`,
          'service',
          ['name', 'area', 'template', 'networks', 'ip', 'state', 'description', 'host'],
        ],
        [
          'PUT',
          `/${x.ws}/vms/${x.vm2}/`,
          'service',
          ['description', 'state', 'networks', 'interfaces', 'host'],
        ],
        ['POST', `/${x.ws}/networks/`, 'service', ['name', 'vlan', 'subnet', 'state', 'description']],
        ['POST', `/${x.ws}/routers/${x.router}/interfaces/`, 'service', ['network', 'ip']],
        ['POST', '/templates/', 'admin', ['name', 'cpu', 'ram', 'disk', 'image', 'os', 'cmdline']],
        ['POST', '/areas/', 'admin', ['name', 'subnet', 'gateway', 'next_ip']],
        [
          'POST',
          '/hosts/',
          'admin',
          ['name', 'address', 'libvirt_uri', 'area', 'cpus', 'memory', 'domain_type'],
        ],
        ['POST', '/pools/', 'admin', ['name', 'path', 'area', 'size']],
      ];
      const known = {
        area: x.area,
        template: x.template,
        network: x.net2,
        networks: [x.net2],
        name: uniqueName('fz'),
      };
      for (const [method, path, who, keys] of templates) {
        const value = fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.string({ unit: 'binary', maxLength: 70 }),
          fc.constantFrom(...Object.values(known)),
          fc.ipV4(),
        );
        const body = fc.oneof(fc.dictionary(fc.constantFrom(...keys), value), fc.jsonValue({ maxDepth: 2 }));
        await fc.assert(
          fc.asyncProperty(body, async (b) => {
            const r = await call(who, method, path, b);
            assert.ok(
              r.status < 500,
              `${method} ${path} ${JSON.stringify(b)}: ${r.status} ${JSON.stringify(r.body)}`,
            );
            if (r.status >= 400) assert.equal(typeof r.body?.error, 'string');
          }),
          { numRuns: 20 },
        );
      }
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 70 }),
          fc.constantFrom('vms', 'networks', 'routers', 'users'),
          async (s, kind) => {
            const seg = encodeURIComponent(s);
            for (const p of [
              `/${seg}/${kind}/`,
              `/${x.ws}/${kind}/${seg}/`,
              `/templates/${seg}/`,
              `/address/${seg}/get_ip/`,
            ]) {
              const r = await call('service', 'GET', p);
              assert.ok(r.status < 500, `GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
            }
          },
        ),
        { numRuns: 30 },
      );
    });
  });
}
