// Network, router and router-interface records: members read them, only services write them.
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../lib/db.ts';
import type { App } from '../../lib/http.ts';
import { membership, pageSize, principal, requireServiceWriter } from '../access.ts';
import type { InventoryContext } from '../context.ts';
import { inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import {
  InterfaceBody,
  ListQuery,
  NetworkBody,
  NetworkUpdate,
  RouterBody,
  RouterNetParams,
  RouterUpdate,
  TaskQuery,
  WsNameParams,
  WsParams,
} from '../schemas.ts';

const NETWORK_COLUMNS = ['name', 'description', 'state', 'vlan', 'subnet'] as const;
const ROUTER_COLUMNS = ['name', 'state', 'host'] as const;

function checkSubnet(subnet: string | null | undefined) {
  if (subnet && !parseSubnet(subnet, 8))
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p (prefix 8-30, no host bits)');
}

export function networkRoutes(app: App, ctx: InventoryContext): void {
  const kinds = [
    {
      table: 'networks',
      kind: 'network',
      columns: NETWORK_COLUMNS,
      body: NetworkBody,
      update: NetworkUpdate,
      defaults: { description: '', state: 'C' },
    },
    {
      table: 'routers',
      kind: 'router',
      columns: ROUTER_COLUMNS,
      body: RouterBody,
      update: RouterUpdate,
      defaults: { state: 'C' },
    },
  ] as const;

  for (const k of kinds) {
    const tags = [k.table];
    const one = async (workspaceId: number, name: string) => {
      const row = await ctx.db
        .selectFrom(k.table)
        .select([...k.columns])
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!row) throw notFound('name', `no ${k.kind} ${name}`);
      return row;
    };
    const write = async (op: () => Promise<unknown>, name: string) => {
      try {
        await op();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('name', `${k.kind} ${name} exists`);
        if (isForeignKeyViolation(e))
          throw conflict('name', `${k.kind} ${name} is in use by VMs or router interfaces`);
        throw e;
      }
    };

    app.get(
      `/:ws/${k.table}/`,
      { schema: { params: WsParams, querystring: ListQuery, tags } },
      async (req) => {
        const m = await membership(ctx, await principal(ctx, req), req.params.ws);
        let q = ctx.db
          .selectFrom(k.table)
          .select([...k.columns])
          .where('workspace_id', '=', m.workspaceId)
          .orderBy('name')
          .limit(pageSize(req.query.limit));
        if (req.query.marker) q = q.where('name', '>', req.query.marker);
        return { [k.table]: await q.execute() };
      },
    );
    app.get(`/:ws/${k.table}/:name/`, { schema: { params: WsNameParams, tags } }, async (req) => {
      const m = await membership(ctx, await principal(ctx, req), req.params.ws);
      return one(m.workspaceId, req.params.name);
    });
    app.post(`/:ws/${k.table}/`, { schema: { params: WsParams, body: k.body, tags } }, async (req, reply) => {
      const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
      const b = req.body as Record<string, unknown> & { name: string };
      checkSubnet(b.subnet as string | undefined);
      const row: Record<string, unknown> = { ...k.defaults, workspace_id: m.workspaceId };
      for (const c of k.columns) if (b[c] !== undefined) row[c] = b[c];
      if (b.task) row.task = b.task;
      await write(
        () =>
          ctx.db
            .insertInto(k.table)
            .values(row as never)
            .execute(),
        b.name,
      );
      return reply.status(201).send(await one(m.workspaceId, b.name));
    });
    app.put(
      `/:ws/${k.table}/:name/`,
      { schema: { params: WsNameParams, body: k.update, tags } },
      async (req) => {
        const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
        const b = req.body as Record<string, unknown>;
        checkSubnet(b.subnet as string | undefined);
        const set: Record<string, unknown> = {};
        for (const c of k.columns) if (b[c] !== undefined) set[c] = b[c];
        if (!Object.keys(set).length) throw inputError('body', 'nothing to change');
        let updated = 0n;
        await write(
          async () => {
            const r = await ctx.db
              .updateTable(k.table)
              .set(set as never)
              .where('workspace_id', '=', m.workspaceId)
              .where('name', '=', req.params.name)
              .executeTakeFirst();
            updated = r.numUpdatedRows;
          },
          String(b.name ?? req.params.name),
        );
        if (!updated) throw notFound('name', `no ${k.kind} ${req.params.name}`);
        return one(m.workspaceId, String(b.name ?? req.params.name));
      },
    );
    // ?task=: only a record that task created (the undo of an interrupted accept).
    app.delete(
      `/:ws/${k.table}/:name/`,
      { schema: { params: WsNameParams, querystring: TaskQuery, tags } },
      async (req) => {
        const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
        let deleted = 0n;
        await write(async () => {
          let q = ctx.db
            .deleteFrom(k.table)
            .where('workspace_id', '=', m.workspaceId)
            .where('name', '=', req.params.name);
          if (req.query.task) q = q.where('task', '=', req.query.task);
          const r = await q.executeTakeFirst();
          deleted = r.numDeletedRows;
        }, req.params.name);
        if (!deleted) throw notFound('name', `no ${k.kind} ${req.params.name}`);
        return { name: req.params.name, deleted: true };
      },
    );
  }
  interfaceRoutes(app, ctx);
}

function interfaceRoutes(app: App, ctx: InventoryContext): void {
  const tags = ['routers'];
  const router = async (workspaceId: number, name: string) => {
    const r = await ctx.db
      .selectFrom('routers')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!r) throw notFound('router', `no router ${name}`);
    return r.id;
  };
  const list = (routerId: number) =>
    ctx.db
      .selectFrom('router_interfaces')
      .innerJoin('networks', 'networks.id', 'router_interfaces.network_id')
      .select(['networks.name as network', 'router_interfaces.ip', 'networks.vlan', 'networks.subnet'])
      .where('router_interfaces.router_id', '=', routerId)
      .orderBy('networks.name');

  app.get('/:ws/routers/:name/interfaces/', { schema: { params: WsNameParams, tags } }, async (req) => {
    const m = await membership(ctx, await principal(ctx, req), req.params.ws);
    return { interfaces: await list(await router(m.workspaceId, req.params.name)).execute() };
  });
  app.get(
    '/:ws/routers/:name/interfaces/:net/',
    { schema: { params: RouterNetParams, tags } },
    async (req) => {
      const m = await membership(ctx, await principal(ctx, req), req.params.ws);
      const i = await list(await router(m.workspaceId, req.params.name))
        .where('networks.name', '=', req.params.net)
        .executeTakeFirst();
      if (!i) throw notFound('network', `router ${req.params.name} has no interface on ${req.params.net}`);
      return i;
    },
  );
  app.post(
    '/:ws/routers/:name/interfaces/',
    { schema: { params: WsNameParams, body: InterfaceBody, tags } },
    async (req, reply) => {
      const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
      const routerId = await router(m.workspaceId, req.params.name);
      const net = await ctx.db
        .selectFrom('networks')
        .select(['id', 'subnet'])
        .where('workspace_id', '=', m.workspaceId)
        .where('name', '=', req.body.network)
        .executeTakeFirst();
      if (!net) throw inputError('network', `no network ${req.body.network} in this workspace`);
      const ip = parseIp(req.body.ip);
      const subnet = net.subnet ? parseSubnet(net.subnet, 8) : undefined;
      if (ip === undefined || (subnet && !inSubnet(ip, subnet)))
        throw inputError('ip', `ip must be a host address of ${net.subnet ?? 'IPv4'}`);
      try {
        await ctx.db
          .insertInto('router_interfaces')
          .values({ router_id: routerId, network_id: net.id, ip: req.body.ip })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e))
          throw conflict(
            'network',
            `router ${req.params.name} already has an interface on ${req.body.network}`,
          );
        throw e;
      }
      return reply
        .status(201)
        .send(await list(routerId).where('networks.name', '=', req.body.network).executeTakeFirst());
    },
  );
  app.delete(
    '/:ws/routers/:name/interfaces/:net/',
    { schema: { params: RouterNetParams, tags } },
    async (req) => {
      const m = await requireServiceWriter(ctx, await principal(ctx, req), req.params.ws);
      const routerId = await router(m.workspaceId, req.params.name);
      const r = await ctx.db
        .deleteFrom('router_interfaces')
        .where('router_id', '=', routerId)
        .where('network_id', '=', (eb) =>
          eb
            .selectFrom('networks')
            .select('id')
            .where('workspace_id', '=', m.workspaceId)
            .where('name', '=', req.params.net),
        )
        .executeTakeFirst();
      if (!r.numDeletedRows)
        throw notFound('network', `router ${req.params.name} has no interface on ${req.params.net}`);
      return { network: req.params.net, deleted: true };
    },
  );
}
