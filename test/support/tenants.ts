// Tenants for the controller's tests: a new user holding every permission in its own workspace, with an area
// of its own (a /29: 5 usable addresses), and a VM made through the controller with a scripted compute.
import assert from 'node:assert/strict';
import { uniqueName } from './env.ts';
import type { TestPlatform } from './platform.ts';
import { scriptedWorker } from './workers.ts';

export interface Tenant {
  ws: string;
  user: string;
  token: string;
  area: string;
}

export async function newTenant(p: TestPlatform, admin: string): Promise<Tenant> {
  const ws = uniqueName('ws');
  const user = uniqueName('u');
  let token = await p.inv.user(user);
  assert.equal((await p.inv.call('POST', '/workspaces/', token, { name: ws })).status, 201);
  // Signed in again: the token now names the workspace.
  token = await p.inv.login(user);
  const area = uniqueName('area');
  const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.0/29`;
  assert.equal((await p.inv.call('POST', '/areas/', admin, { name: area, subnet })).status, 201);
  return { ws, user, token, area };
}

/** A VM of template `tiny` in the tenant's area, created (task successful) on host h1 by a scripted compute. */
export async function scriptedVm(
  p: TestPlatform,
  t: Tenant,
  body: Record<string, unknown> = {},
): Promise<string> {
  const name = uniqueName('vm');
  const made = await scriptedWorker(p.bus, 'vm', t.ws, () => ({ status: 'successful', host: 'h1' }));
  try {
    const r = await p.call('POST', '/vms/', t.token, {
      name,
      owner: t.ws,
      area: t.area,
      template: 'tiny',
      ...body,
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const done = await p.call('GET', `/task/${r.body.task_id}/?wait=30`, t.token);
    assert.equal(done.body.status, 'successful', JSON.stringify(done.body));
  } finally {
    await made.stop();
  }
  return name;
}

/** The workspace's default security group lets everything in: the machine (the lab's gateway) can reach the
 * guests (security groups themselves are shown in test/system/secgroups.test.ts). */
export async function openDefaultGroup(p: Pick<TestPlatform, 'call'>, ws: string, token: string) {
  const open = await p.call('PUT', '/security_groups/', token, {
    owner: ws,
    name: 'default',
    update_dict: {
      rules: [
        { direction: 'egress', protocol: 'any' },
        { direction: 'ingress', protocol: 'any' },
      ],
    },
  });
  assert.equal(open.status, 202, JSON.stringify(open.body));
  const opened = await p.call('GET', `/task/${open.body.task_id}/?wait=60`, token);
  assert.equal(opened.body.status, 'successful', JSON.stringify(opened.body));
}
