// Network, router and router-interface records (services/networks.ts): HTTP only.
import { Deleted, ErrorBody, ListQuery } from '../../lib/contracts/common.ts';
import {
  InterfaceBody,
  InterfaceDeleted,
  Network,
  NetworkBody,
  NetworkList,
  NetworkUpdate,
  Router,
  RouterBody,
  RouterInterface,
  RouterInterfaceList,
  RouterList,
  RouterNetParams,
  RouterUpdate,
  TaskQuery,
  WsNameParams,
  WsParams,
} from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import { page } from '../services/access.ts';
import type { InventoryServices } from '../services/index.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function networkRoutes(app: App, s: Pick<InventoryServices, 'networks' | 'routers'>, who: Auth): void {
  const n = s.networks;
  let tags = ['networks'];
  app.get(
    '/:ws/networks/',
    { schema: { params: WsParams, querystring: ListQuery, response: { 200: NetworkList, ...errors }, tags } },
    async (req) => ({ networks: await n.list(await who(req), req.params.ws, page(req.query)) }),
  );
  app.get(
    '/:ws/networks/:name/',
    { schema: { params: WsNameParams, response: { 200: Network, ...errors }, tags } },
    async (req) => n.get(await who(req), req.params.ws, req.params.name),
  );
  app.post(
    '/:ws/networks/',
    { schema: { params: WsParams, body: NetworkBody, response: { 201: Network, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await n.create(await who(req), req.params.ws, req.body)),
  );
  app.put(
    '/:ws/networks/:name/',
    { schema: { params: WsNameParams, body: NetworkUpdate, response: { 200: Network, ...errors }, tags } },
    async (req) => n.update(await who(req), req.params.ws, req.params.name, req.body),
  );
  // ?task=: only a record that task created (the undo of an interrupted accept).
  app.delete(
    '/:ws/networks/:name/',
    { schema: { params: WsNameParams, querystring: TaskQuery, response: { 200: Deleted, ...errors }, tags } },
    async (req) => n.remove(await who(req), req.params.ws, req.params.name, req.query.task),
  );

  const r = s.routers;
  tags = ['routers'];
  app.get(
    '/:ws/routers/',
    { schema: { params: WsParams, querystring: ListQuery, response: { 200: RouterList, ...errors }, tags } },
    async (req) => ({ routers: await r.list(await who(req), req.params.ws, page(req.query)) }),
  );
  app.get(
    '/:ws/routers/:name/',
    { schema: { params: WsNameParams, response: { 200: Router, ...errors }, tags } },
    async (req) => r.get(await who(req), req.params.ws, req.params.name),
  );
  app.post(
    '/:ws/routers/',
    { schema: { params: WsParams, body: RouterBody, response: { 201: Router, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await r.create(await who(req), req.params.ws, req.body)),
  );
  app.put(
    '/:ws/routers/:name/',
    { schema: { params: WsNameParams, body: RouterUpdate, response: { 200: Router, ...errors }, tags } },
    async (req) => r.update(await who(req), req.params.ws, req.params.name, req.body),
  );
  app.delete(
    '/:ws/routers/:name/',
    { schema: { params: WsNameParams, querystring: TaskQuery, response: { 200: Deleted, ...errors }, tags } },
    async (req) => r.remove(await who(req), req.params.ws, req.params.name, req.query.task),
  );

  app.get(
    '/:ws/routers/:name/interfaces/',
    { schema: { params: WsNameParams, response: { 200: RouterInterfaceList, ...errors }, tags } },
    async (req) => ({ interfaces: await r.interfaces(await who(req), req.params.ws, req.params.name) }),
  );
  app.get(
    '/:ws/routers/:name/interfaces/:net/',
    { schema: { params: RouterNetParams, response: { 200: RouterInterface, ...errors }, tags } },
    async (req) => r.interface(await who(req), req.params.ws, req.params.name, req.params.net),
  );
  app.post(
    '/:ws/routers/:name/interfaces/',
    {
      schema: {
        params: WsNameParams,
        body: InterfaceBody,
        response: { 201: RouterInterface, ...errors },
        tags,
      },
    },
    async (req, reply) =>
      reply.status(201).send(await r.addInterface(await who(req), req.params.ws, req.params.name, req.body)),
  );
  app.delete(
    '/:ws/routers/:name/interfaces/:net/',
    { schema: { params: RouterNetParams, response: { 200: InterfaceDeleted, ...errors }, tags } },
    async (req) => r.removeInterface(await who(req), req.params.ws, req.params.name, req.params.net),
  );
}
