// Registers a lab with the platform in one go: its area (the guests' public subnet), hosts, shared pool and
// the test guest template. Idempotent: what exists is updated.
import { callJson, expectOk } from '../lib/httpclient.ts';
import type { LabStatus } from '../lab/index.ts';

export interface Registered {
  area: string;
  pool: string;
  template: string;
  hosts: string[];
}

export async function registerLab(
  lab: LabStatus,
  inventoryUrl: string,
  adminToken: string,
  names: { area?: string; pool?: string } = {},
): Promise<Registered> {
  const area = names.area ?? 'lab';
  const pool = names.pool ?? 'lab-pool';
  const put = async (kind: string, body: Record<string, unknown> & { name: string }) => {
    const created = await callJson<{ field?: string }>('POST', `${inventoryUrl}/${kind}/`, {
      token: adminToken,
      body,
    });
    if (created.status === 409 && created.body?.field === 'name') {
      expectOk(
        await callJson('PUT', `${inventoryUrl}/${kind}/${body.name}/`, { token: adminToken, body }),
        `update ${kind} ${body.name}`,
      );
    } else expectOk(created, `register ${kind} ${body.name}`);
  };
  // Guests' public NICs sit on the lab's public subnet; the root namespace holds its gateway.
  await put('areas', { name: area, subnet: lab.network.publicSubnet, gateway: lab.network.publicGateway });
  for (const h of lab.hosts)
    await put('hosts', {
      name: h.name,
      address: h.ip,
      libvirt_uri: h.uri,
      area,
      cpus: 2,
      memory: 2,
      domain_type: h.domainType,
    });
  await put('pools', { name: pool, path: lab.pool.path, area, size: 20 });
  if (!lab.template) throw new Error('the lab has no test guest template (lab up --guest)');
  const t = lab.template;
  await put('templates', {
    name: t.name,
    description: 'busybox test guest (scripts/guest)',
    os: 'busybox',
    cpu: 1,
    ram: 0.09375,
    disk: 0.125,
    image: t.disk,
    kernel: t.kernel,
    initrd: t.initrd,
    cmdline: 'console=ttyS0 panic=-1',
  });
  return { area, pool, template: t.name, hosts: lab.hosts.map((h) => h.name) };
}
