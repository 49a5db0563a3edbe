// The operators' catalogue: templates, areas, hosts, pools (admins write; hosts and pools are read by admins
// and services only), and the area address allocator.
import { sql, type Kysely } from 'kysely';
import type { TSchema } from 'typebox';
import { requireAdmin, type Principal } from '../../lib/auth.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../lib/db.ts';
import type { App } from '../../lib/http.ts';
import { pageSize, principal } from '../access.ts';
import type { InventoryContext } from '../context.ts';
import { formatIp, inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import type { InventoryDB } from '../schema.ts';
import { AreaBody, HostBody, ListQuery, NameParams, PoolBody, TaskQuery, TemplateBody } from '../schemas.ts';
import { Type } from 'typebox';

type Tx = Kysely<InventoryDB>;
type Body = Record<string, unknown> & { name: string };

interface Kind {
  kind: 'template' | 'area' | 'host' | 'pool';
  table: 'templates' | 'areas' | 'hosts' | 'pools';
  body: TSchema;
  /** Who may read: everyone signed in, or admins and services only. */
  readers: 'all' | 'operators';
  /** Body -> row, resolving names (throws input errors naming the field). */
  toRow(db: Tx, b: Body, existing?: Record<string, unknown>): Promise<Record<string, unknown>>;
  list(db: Tx): any;
}

async function areaId(db: Tx, name: unknown): Promise<number> {
  const a = await db.selectFrom('areas').select('id').where('name', '=', String(name)).executeTakeFirst();
  if (!a) throw inputError('area', `no area ${String(name)}`);
  return a.id;
}

const withArea = (db: Tx, table: 'hosts' | 'pools') =>
  db
    .selectFrom(table)
    .innerJoin('areas', 'areas.id', `${table}.area_id`)
    .selectAll(table)
    .select('areas.name as area');

function areaRow(b: Body, existing?: Record<string, unknown>) {
  const subnetText = String(b.subnet ?? existing?.subnet);
  const s = parseSubnet(subnetText);
  if (!s)
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p with prefix 16-30 and no host bits');
  const gatewayText = (b.gateway as string | undefined) ?? formatIp(s.first);
  const gw = parseIp(gatewayText);
  if (gw === undefined || !inSubnet(gw, s))
    throw inputError('gateway', `gateway must be an address of ${subnetText}`);
  const nextText = (b.next_ip as string | undefined) ?? formatIp(gw === s.first ? s.first + 1 : s.first);
  const next = parseIp(nextText);
  if (next === undefined || !inSubnet(next, s))
    throw inputError('next_ip', `next_ip must be an address of ${subnetText}`);
  return { name: b.name, subnet: subnetText, gateway: formatIp(gw), next_ip: formatIp(next) };
}

const kinds: Kind[] = [
  {
    kind: 'template',
    table: 'templates',
    body: TemplateBody,
    readers: 'all',
    toRow: async (_db, b) => ({
      name: b.name,
      description: b.description ?? '',
      os: b.os ?? '',
      cpu: b.cpu,
      ram: b.ram,
      disk: b.disk,
      image: b.image ?? `${b.name}.qcow2`,
      kernel: b.kernel ?? null,
      initrd: b.initrd ?? null,
      cmdline: b.cmdline ?? null,
    }),
    list: (db) =>
      db
        .selectFrom('templates')
        .select(['name', 'description', 'os', 'cpu', 'ram', 'disk', 'image', 'kernel', 'initrd', 'cmdline']),
  },
  {
    kind: 'area',
    table: 'areas',
    body: AreaBody,
    readers: 'all',
    toRow: async (_db, b, existing) => areaRow(b, existing),
    list: (db) => db.selectFrom('areas').select(['name', 'subnet', 'gateway', 'next_ip']),
  },
  {
    kind: 'host',
    table: 'hosts',
    body: HostBody,
    readers: 'operators',
    toRow: async (db, b) => ({
      name: b.name,
      address: b.address,
      libvirt_uri: b.libvirt_uri,
      area_id: await areaId(db, b.area),
      cpus: b.cpus,
      memory: b.memory,
      domain_type: b.domain_type ?? 'qemu',
    }),
    list: (db) => withArea(db, 'hosts'),
  },
  {
    kind: 'pool',
    table: 'pools',
    body: PoolBody,
    readers: 'operators',
    toRow: async (db, b) => ({ name: b.name, path: b.path, area_id: await areaId(db, b.area), size: b.size }),
    list: (db) => withArea(db, 'pools'),
  },
];

function view(row: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, area_id: _a, created_at: _c, ...rest } = row;
  return rest;
}

function canRead(p: Principal, k: Kind) {
  if (k.readers === 'operators' && !p.isAdmin && !p.isService) throw notAllowed(`only admins see ${k.table}`);
}

export function catalogueRoutes(app: App, ctx: InventoryContext): void {
  for (const k of kinds) {
    const tags = ['catalogue'];
    const base = `/${k.table}/`;
    const one = async (name: string) => {
      const row = await k.list(ctx.db).where(`${k.table}.name`, '=', name).executeTakeFirst();
      if (!row) throw notFound('name', `no ${k.kind} ${name}`);
      return view(row);
    };
    const write = async (op: () => Promise<unknown>, name: string) => {
      try {
        await op();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('name', `${k.kind} ${name} exists`);
        if (isForeignKeyViolation(e)) throw conflict('name', `${k.kind} ${name} is in use`);
        throw e;
      }
    };

    app.get(base, { schema: { querystring: ListQuery, tags } }, async (req) => {
      canRead(await principal(ctx, req), k);
      let q = k.list(ctx.db).orderBy(`${k.table}.name`).limit(pageSize(req.query.limit));
      if (req.query.marker) q = q.where(`${k.table}.name`, '>', req.query.marker);
      return { [k.table]: (await q.execute()).map(view) };
    });
    app.get(`${base}:name/`, { schema: { params: NameParams, tags } }, async (req) => {
      canRead(await principal(ctx, req), k);
      return one(req.params.name);
    });
    app.post(base, { schema: { body: k.body, tags } }, async (req, reply) => {
      requireAdmin(await principal(ctx, req));
      const b = req.body as Body;
      const row = await k.toRow(ctx.db, b);
      await write(
        () =>
          ctx.db
            .insertInto(k.table)
            .values(row as never)
            .execute(),
        b.name,
      );
      return reply.status(201).send(await one(b.name));
    });
    app.put(`${base}:name/`, { schema: { params: NameParams, body: k.body, tags } }, async (req) => {
      requireAdmin(await principal(ctx, req));
      const existing = await ctx.db
        .selectFrom(k.table)
        .selectAll()
        .where('name', '=', req.params.name)
        .executeTakeFirst();
      if (!existing) throw notFound('name', `no ${k.kind} ${req.params.name}`);
      const b = req.body as Body;
      const row = await k.toRow(ctx.db, b, existing);
      if (k.kind === 'area' && row.subnet !== existing.subnet) {
        const leased = await ctx.db
          .selectFrom('ip_leases')
          .select('ip')
          .where('area_id', '=', existing.id)
          .executeTakeFirst();
        if (leased) throw conflict('subnet', 'the subnet of an area with leased addresses cannot change');
      }
      if (k.kind === 'area' && row.gateway !== existing.gateway) {
        // The gateway may not become an address a VM (or a pending get_ip) already holds.
        const taken = await ctx.db
          .selectFrom('ip_leases')
          .select('ip')
          .where('area_id', '=', existing.id)
          .where('ip', '=', parseIp(String(row.gateway))!)
          .executeTakeFirst();
        if (taken)
          throw conflict('gateway', `${String(row.gateway)} is leased; it cannot become the gateway`);
      }
      await write(
        () =>
          ctx.db
            .updateTable(k.table)
            .set(row as never)
            .where('id', '=', existing.id)
            .execute(),
        b.name,
      );
      return one(b.name);
    });
    app.delete(`${base}:name/`, { schema: { params: NameParams, tags } }, async (req) => {
      requireAdmin(await principal(ctx, req));
      let deleted = 0n;
      await write(async () => {
        deleted = (await ctx.db.deleteFrom(k.table).where('name', '=', req.params.name).executeTakeFirst())
          .numDeletedRows;
      }, req.params.name);
      if (!deleted) throw notFound('name', `no ${k.kind} ${req.params.name}`);
      return { name: req.params.name, deleted: true };
    });
  }

  const AreaParams = Type.Object({ area: NameParams.properties.name });
  // ?task=: the address is the task's; asking again answers the same one, and it can be released by task.
  app.get(
    '/address/:area/get_ip/',
    { schema: { params: AreaParams, querystring: TaskQuery, tags: ['catalogue'] } },
    async (req) => {
      requireAdmin(await principal(ctx, req));
      return { ip: await allocateIp(ctx.db, req.params.area, req.query.task) };
    },
  );
  const TaskLeaseParams = Type.Object({
    area: NameParams.properties.name,
    task: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }),
  });
  app.delete(
    '/address/:area/task/:task/',
    { schema: { params: TaskLeaseParams, tags: ['catalogue'] } },
    async (req) => {
      requireAdmin(await principal(ctx, req));
      return { released: await releaseTaskIps(ctx.db, req.params.area, req.params.task) };
    },
  );
  const ReleaseParams = Type.Object({ area: NameParams.properties.name, ip: Type.String({ maxLength: 15 }) });
  app.delete(
    '/address/:area/:ip/',
    { schema: { params: ReleaseParams, tags: ['catalogue'] } },
    async (req) => {
      requireAdmin(await principal(ctx, req));
      return { released: await releaseIp(ctx.db, req.params.area, req.params.ip) };
    },
  );
}

/** Hands out the next free address of the area (never network, gateway or broadcast), each once. */
export async function allocateIp(db: Tx, areaName: string, task?: string): Promise<string> {
  return db.transaction().execute(async (tx) => {
    const area = await tx
      .selectFrom('areas')
      .selectAll()
      .where('name', '=', areaName)
      .forUpdate()
      .executeTakeFirst();
    if (!area) throw notFound('area', `no area ${areaName}`);
    if (task) {
      const held = await tx
        .selectFrom('ip_leases')
        .select('ip')
        .where('area_id', '=', area.id)
        .where('task', '=', task)
        .executeTakeFirst();
      if (held) return formatIp(Number(held.ip));
    }
    const s = parseSubnet(area.subnet)!;
    const gw = parseIp(area.gateway)!;
    const next = parseIp(area.next_ip) ?? s.first;
    // Usually the address after the last one handed out is free: look there first (an index range read),
    // and scan the whole subnet only when that window is full.
    const window = Math.min(next + 63, s.last);
    const taken = new Set(
      (
        await tx
          .selectFrom('ip_leases')
          .select('ip')
          .where('area_id', '=', area.id)
          .where('ip', '>=', next)
          .where('ip', '<=', window)
          .execute()
      ).map((r) => Number(r.ip)),
    );
    for (let ip = next; ip <= window; ip++) {
      if (ip === gw || taken.has(ip)) continue;
      await tx
        .insertInto('ip_leases')
        .values({ area_id: area.id, ip, vm_id: null, task: task ?? null })
        .execute();
      await tx
        .updateTable('areas')
        .set({ next_ip: formatIp(ip >= s.last ? s.first : ip + 1) })
        .where('id', '=', area.id)
        .execute();
      return formatIp(ip);
    }
    const { rows } = await sql<{ ip: number }>`
      SELECT g.ip FROM generate_series(${s.first}::bigint, ${s.last}::bigint) AS g(ip)
      WHERE g.ip <> ${gw} AND NOT EXISTS (SELECT 1 FROM ip_leases l WHERE l.area_id = ${area.id} AND l.ip = g.ip)
      ORDER BY (g.ip < ${next}), g.ip LIMIT 1`.execute(tx);
    const ip = rows[0] ? Number(rows[0].ip) : undefined;
    if (ip === undefined) throw conflict('area', `no free address left in area ${areaName}`);
    await tx
      .insertInto('ip_leases')
      .values({ area_id: area.id, ip, vm_id: null, task: task ?? null })
      .execute();
    await tx
      .updateTable('areas')
      .set({ next_ip: formatIp(ip >= s.last ? s.first : ip + 1) })
      .where('id', '=', area.id)
      .execute();
    return formatIp(ip);
  });
}

/** Gives back the addresses a task took that no VM holds (the undo of an interrupted accept). */
export async function releaseTaskIps(db: Tx, areaName: string, task: string): Promise<number> {
  const area = await db.selectFrom('areas').select('id').where('name', '=', areaName).executeTakeFirst();
  if (!area) throw notFound('area', `no area ${areaName}`);
  const r = await db
    .deleteFrom('ip_leases')
    .where('area_id', '=', area.id)
    .where('task', '=', task)
    .where('vm_id', 'is', null)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Gives back an address no VM holds (a VM's address goes back when its record is deleted). */
export async function releaseIp(db: Tx, areaName: string, ipText: string): Promise<boolean> {
  const ip = parseIp(ipText);
  if (ip === undefined) throw inputError('ip', 'not an IPv4 address');
  const area = await db.selectFrom('areas').select('id').where('name', '=', areaName).executeTakeFirst();
  if (!area) throw notFound('area', `no area ${areaName}`);
  const r = await db
    .deleteFrom('ip_leases')
    .where('area_id', '=', area.id)
    .where('ip', '=', ip)
    .where('vm_id', 'is', null)
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}
