// VM records: members read them, only services write them (users go through the controller). A VM holds its
// area address: the lease is attached to the record and goes back to the area when the record goes.
import type { Kysely } from 'kysely';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import type { App } from '../../lib/http.ts';
import { membership, pageSize, principal, requireServiceWriter } from '../access.ts';
import type { InventoryContext } from '../context.ts';
import { formatIp, inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import type { InventoryDB } from '../schema.ts';
import { ListQuery, TaskQuery, VmBody, VmUpdate, WsNameParams, WsParams } from '../schemas.ts';

type Tx = Kysely<InventoryDB>;

async function vmViews(
  db: Tx,
  workspaceId: number,
  opts: { name?: string; marker?: string; limit?: number },
) {
  let q = db
    .selectFrom('vms')
    .innerJoin('areas', 'areas.id', 'vms.area_id')
    .innerJoin('templates', 'templates.id', 'vms.template_id')
    .select([
      'vms.id',
      'vms.name',
      'vms.description',
      'vms.ip',
      'vms.state',
      'vms.host',
      'areas.name as area',
      'templates.name as template',
    ])
    .where('vms.workspace_id', '=', workspaceId)
    .orderBy('vms.name');
  if (opts.name !== undefined) q = q.where('vms.name', '=', opts.name);
  if (opts.marker) q = q.where('vms.name', '>', opts.marker);
  if (opts.limit) q = q.limit(opts.limit);
  const vms = await q.execute();
  if (!vms.length) return [];
  const nets = await db
    .selectFrom('vm_networks')
    .innerJoin('networks', 'networks.id', 'vm_networks.network_id')
    .select(['vm_networks.vm_id', 'networks.name as network', 'vm_networks.ip', 'vm_networks.mac'])
    .where(
      'vm_networks.vm_id',
      'in',
      vms.map((v) => v.id),
    )
    .orderBy('networks.name')
    .execute();
  return vms.map(({ id, ...v }) => {
    const mine = nets.filter((n) => n.vm_id === id);
    return {
      ...v,
      networks: mine.map((n) => n.network),
      interfaces: mine.map(({ network, ip, mac }) => ({ network, ip, mac })),
    };
  });
}

async function networkIds(
  db: Tx,
  workspaceId: number,
  names: string[],
): Promise<Map<string, { id: number; subnet: string | null }>> {
  if (!names.length) return new Map();
  const rows = await db
    .selectFrom('networks')
    .select(['id', 'name', 'subnet'])
    .where('workspace_id', '=', workspaceId)
    .where('name', 'in', names)
    .execute();
  const found = new Map(rows.map((r) => [r.name, { id: r.id, subnet: r.subnet }]));
  const missing = names.find((n) => !found.has(n));
  if (missing) throw inputError('networks', `no network ${missing} in this workspace`);
  return found;
}

/**
 * The address of a VM's NIC on a network with a subnet: the lowest free one. The first host address stays
 * free for a router interface (the conventional gateway); router interfaces' addresses are skipped too.
 */
async function nicAddress(tx: Tx, net: { id: number; subnet: string | null }): Promise<string | null> {
  const s = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
  if (!s) return null;
  await tx.selectFrom('networks').select('id').where('id', '=', net.id).forUpdate().execute();
  const used = new Set(
    [
      ...(await tx.selectFrom('vm_networks').select('ip').where('network_id', '=', net.id).execute()),
      ...(await tx.selectFrom('router_interfaces').select('ip').where('network_id', '=', net.id).execute()),
    ].map((r) => r.ip?.split('/')[0]),
  );
  for (let ip = s.first + 1; ip <= s.last; ip++)
    if (!used.has(formatIp(ip))) return `${formatIp(ip)}/${s.prefix}`;
  throw conflict('networks', `no free address left on network subnet ${net.subnet}`);
}

/** Ties the VM's address to it: takes the area lease made by get_ip, or leases the address now. */
async function attachLease(tx: Tx, vmId: number, areaId: number, ipText: string) {
  const ip = parseIp(ipText);
  const area = await tx
    .selectFrom('areas')
    .select(['subnet', 'gateway'])
    .where('id', '=', areaId)
    .executeTakeFirstOrThrow();
  const s = parseSubnet(area.subnet)!;
  if (ip === undefined || !inSubnet(ip, s) || ipText === area.gateway)
    throw inputError('ip', `ip must be a host address of ${area.subnet}`);
  const lease = await tx
    .selectFrom('ip_leases')
    .select('vm_id')
    .where('area_id', '=', areaId)
    .where('ip', '=', ip)
    .forUpdate()
    .executeTakeFirst();
  if (lease && lease.vm_id !== null && lease.vm_id !== vmId)
    throw conflict('ip', `${ipText} is used by another VM`);
  if (lease)
    await tx
      .updateTable('ip_leases')
      .set({ vm_id: vmId })
      .where('area_id', '=', areaId)
      .where('ip', '=', ip)
      .execute();
  else {
    // A concurrent VM may lease the same unleased address: its insert wins, ours does nothing and is a 409 on ip
    // (a bare insert would fail with a unique violation that the caller reports as a name conflict).
    const inserted = await tx
      .insertInto('ip_leases')
      .values({ area_id: areaId, ip, vm_id: vmId })
      .onConflict((oc) => oc.columns(['area_id', 'ip']).doNothing())
      .returning('ip')
      .executeTakeFirst();
    if (!inserted) throw conflict('ip', `${ipText} is used by another VM`);
  }
}

export function vmRoutes(app: App, ctx: InventoryContext): void {
  const tags = ['vms'];
  const get = async (workspaceId: number, name: string) => {
    const [vm] = await vmViews(ctx.db, workspaceId, { name });
    if (!vm) throw notFound('name', `no vm ${name}`);
    return vm;
  };

  app.get('/:ws/vms/', { schema: { params: WsParams, querystring: ListQuery, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    return {
      vms: await vmViews(ctx.db, m.workspaceId, {
        marker: req.query.marker,
        limit: pageSize(req.query.limit),
      }),
    };
  });

  app.get('/:ws/vms/:name/', { schema: { params: WsNameParams, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    return get(m.workspaceId, req.params.name);
  });

  app.post('/:ws/vms/', { schema: { params: WsParams, body: VmBody, tags } }, async (req, reply) => {
    const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
    const b = req.body;
    try {
      await ctx.db.transaction().execute(async (tx) => {
        const area = await tx.selectFrom('areas').select('id').where('name', '=', b.area).executeTakeFirst();
        if (!area) throw inputError('area', `no area ${b.area}`);
        const template = await tx
          .selectFrom('templates')
          .select('id')
          .where('name', '=', b.template)
          .executeTakeFirst();
        if (!template) throw inputError('template', `no template ${b.template}`);
        const nets = await networkIds(tx, m.workspaceId, b.networks ?? []);
        const vm = await tx
          .insertInto('vms')
          .values({
            workspace_id: m.workspaceId,
            name: b.name,
            description: b.description ?? '',
            ip: b.ip ?? null,
            state: b.state ?? 'C_D',
            area_id: area.id,
            template_id: template.id,
            host: b.host ?? null,
            task: b.task ?? null,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        for (const n of nets.values())
          await tx
            .insertInto('vm_networks')
            .values({ vm_id: vm.id, network_id: n.id, ip: await nicAddress(tx, n) })
            .execute();
        if (b.ip) await attachLease(tx, vm.id, area.id, b.ip);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('name', `vm ${b.name} exists`);
      throw e;
    }
    return reply.status(201).send(await get(m.workspaceId, b.name));
  });

  app.put('/:ws/vms/:name/', { schema: { params: WsNameParams, body: VmUpdate, tags } }, async (req) => {
    const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
    const b = req.body;
    try {
      await ctx.db.transaction().execute(async (tx) => {
        const vm = await tx
          .selectFrom('vms')
          .select('id')
          .where('workspace_id', '=', m.workspaceId)
          .where('name', '=', req.params.name)
          .forUpdate()
          .executeTakeFirst();
        if (!vm) throw notFound('name', `no vm ${req.params.name}`);
        const set: Record<string, unknown> = {};
        for (const f of ['name', 'description', 'state', 'host'] as const)
          if (b[f] !== undefined) set[f] = b[f];
        if (Object.keys(set).length)
          await tx
            .updateTable('vms')
            .set({ ...set, updated_at: new Date() })
            .where('id', '=', vm.id)
            .execute();
        if (b.networks) {
          const nets = await networkIds(tx, m.workspaceId, b.networks);
          const ids = [...nets.values()].map((n) => n.id);
          let del = tx.deleteFrom('vm_networks').where('vm_id', '=', vm.id);
          if (ids.length) del = del.where('network_id', 'not in', ids);
          await del.execute();
          const present = new Set(
            (
              await tx.selectFrom('vm_networks').select('network_id').where('vm_id', '=', vm.id).execute()
            ).map((r) => r.network_id),
          );
          for (const n of nets.values())
            if (!present.has(n.id))
              await tx
                .insertInto('vm_networks')
                .values({ vm_id: vm.id, network_id: n.id, ip: await nicAddress(tx, n) })
                .execute();
        }
        for (const i of b.interfaces ?? []) {
          const n = (await networkIds(tx, m.workspaceId, [i.network])).get(i.network)!;
          // An absent ip keeps the address inventory gave; null clears it.
          const ip = i.ip === undefined ? undefined : i.ip;
          if (ip) {
            const s = n.subnet ? parseSubnet(n.subnet, 8) : undefined;
            const a = parseIp(ip.split('/')[0]);
            if (a === undefined || (s && !inSubnet(a, s)))
              throw inputError('interfaces', `ip ${ip} is not in network ${i.network}`);
          }
          const r = await tx
            .updateTable('vm_networks')
            .set({ ...(ip !== undefined ? { ip } : {}), ...(i.mac ? { mac: i.mac } : {}) })
            .where('vm_id', '=', vm.id)
            .where('network_id', '=', n.id)
            .executeTakeFirst();
          if (!r.numUpdatedRows) throw inputError('interfaces', `vm is not on network ${i.network}`);
        }
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('name', `vm ${String(b.name)} exists`);
      throw e;
    }
    return get(m.workspaceId, b.name ?? req.params.name);
  });

  // ?task=: only a record that task created (the undo of an interrupted accept).
  app.delete(
    '/:ws/vms/:name/',
    { schema: { params: WsNameParams, querystring: TaskQuery, tags } },
    async (req) => {
      const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
      let q = ctx.db
        .deleteFrom('vms')
        .where('workspace_id', '=', m.workspaceId)
        .where('name', '=', req.params.name);
      if (req.query.task) q = q.where('task', '=', req.query.task);
      const r = await q.executeTakeFirst();
      if (!r.numDeletedRows) throw notFound('name', `no vm ${req.params.name}`);
      return { name: req.params.name, deleted: true };
    },
  );
}
