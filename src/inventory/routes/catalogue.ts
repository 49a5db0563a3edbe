// The operators' catalogue (services/catalogue.ts) and the area address allocator: HTTP only.
import type { Static, TSchema } from 'typebox';
import { Deleted, ErrorBody, ListQuery } from '../../lib/contracts/common.ts';
import * as api from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import { page } from '../services/access.ts';
import type { CatalogueService } from '../services/catalogue.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['catalogue'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

/**
 * GET (list and one), POST, PUT and DELETE of one kind at /<plural>/. The kind's schemas and its service
 * agree by their types here; inside, the schemas are plain TSchema (TypeScript cannot follow a generic schema
 * through Fastify's type provider), and the body, which Fastify checked against `body`, is the service's.
 */
function kindRoutes<B extends TSchema, V extends TSchema, L extends TSchema>(
  app: App,
  who: Auth,
  k: {
    plural: string;
    body: B;
    view: V;
    list: L;
    wrap: (items: Static<V>[]) => Static<L>;
    service: CatalogueService<Static<B>, Static<V>>;
  },
): void {
  const base = `/${k.plural}/`;
  const svc = k.service;
  const [body, view, list]: TSchema[] = [k.body, k.view, k.list];
  app.get(
    base,
    { schema: { querystring: ListQuery, response: { 200: list, ...errors }, tags } },
    async (req) => k.wrap(await svc.list(await who(req), page(req.query))),
  );
  app.get(
    `${base}:name/`,
    { schema: { params: api.NameParams, response: { 200: view, ...errors }, tags } },
    async (req) => svc.get(await who(req), req.params.name),
  );
  app.post(base, { schema: { body, response: { 201: view, ...errors }, tags } }, async (req, reply) =>
    reply.status(201).send(await svc.create(await who(req), req.body as Static<B>)),
  );
  app.put(
    `${base}:name/`,
    { schema: { params: api.NameParams, body, response: { 200: view, ...errors }, tags } },
    async (req) => svc.replace(await who(req), req.params.name, req.body as Static<B>),
  );
  app.delete(
    `${base}:name/`,
    { schema: { params: api.NameParams, response: { 200: Deleted, ...errors }, tags } },
    async (req) => svc.remove(await who(req), req.params.name),
  );
}

export function catalogueRoutes(
  app: App,
  s: Pick<InventoryServices, 'catalogue' | 'addresses'>,
  who: Auth,
): void {
  const c = s.catalogue;
  kindRoutes(app, who, {
    plural: 'templates',
    body: api.TemplateBody,
    view: api.Template,
    list: api.TemplateList,
    wrap: (templates) => ({ templates }),
    service: c.templates,
  });
  kindRoutes(app, who, {
    plural: 'areas',
    body: api.AreaBody,
    view: api.Area,
    list: api.AreaList,
    wrap: (areas) => ({ areas }),
    service: c.areas,
  });
  kindRoutes(app, who, {
    plural: 'hosts',
    body: api.HostBody,
    view: api.Host,
    list: api.HostList,
    wrap: (hosts) => ({ hosts }),
    service: c.hosts,
  });
  app.get(
    '/hosts/:name/vms/',
    { schema: { params: api.NameParams, response: { 200: api.PlacedVmList, ...errors }, tags } },
    async (req) => ({ vms: await c.hosts.vms(await who(req), req.params.name) }),
  );
  kindRoutes(app, who, {
    plural: 'pools',
    body: api.PoolBody,
    view: api.Pool,
    list: api.PoolList,
    wrap: (pools) => ({ pools }),
    service: c.pools,
  });

  // ?task=: the address is the task's; asking again answers the same one, and it can be released by task.
  app.get(
    '/address/:area/get_ip/',
    {
      schema: {
        params: api.AreaParams,
        querystring: api.TaskQuery,
        response: { 200: api.IpAnswer, ...errors },
        tags,
      },
    },
    async (req) => ({ ip: await s.addresses.take(await who(req), req.params.area, req.query.task) }),
  );
  app.delete(
    '/address/:area/task/:task/',
    { schema: { params: api.TaskLeaseParams, response: { 200: api.ReleasedCount, ...errors }, tags } },
    async (req) => ({
      released: await s.addresses.releaseTask(await who(req), req.params.area, req.params.task),
    }),
  );
  app.delete(
    '/address/:area/:ip/',
    { schema: { params: api.ReleaseParams, response: { 200: api.ReleasedOne, ...errors }, tags } },
    async (req) => ({ released: await s.addresses.release(await who(req), req.params.area, req.params.ip) }),
  );
}
