// VM records (services/vms.ts): HTTP only.
import { Deleted, ErrorBody, ListQuery } from '../../lib/contracts/common.ts';
import {
  AffinityGroupList,
  TaskQuery,
  Vm,
  VmBody,
  VmList,
  VmUpdate,
  WsNameParams,
  WsParams,
} from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import { page } from '../services/access.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['vms'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function vmRoutes(app: App, s: Pick<InventoryServices, 'vms'>, who: Auth): void {
  app.get(
    '/:ws/vms/',
    { schema: { params: WsParams, querystring: ListQuery, response: { 200: VmList, ...errors }, tags } },
    async (req) => ({ vms: await s.vms.list(await who(req), req.params.ws, page(req.query)) }),
  );
  app.get(
    '/:ws/vms/:name/',
    { schema: { params: WsNameParams, response: { 200: Vm, ...errors }, tags } },
    async (req) => s.vms.get(await who(req), req.params.ws, req.params.name),
  );
  app.post(
    '/:ws/vms/',
    { schema: { params: WsParams, body: VmBody, response: { 201: Vm, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await s.vms.create(await who(req), req.params.ws, req.body)),
  );
  app.put(
    '/:ws/vms/:name/',
    { schema: { params: WsNameParams, body: VmUpdate, response: { 200: Vm, ...errors }, tags } },
    async (req) => s.vms.update(await who(req), req.params.ws, req.params.name, req.body),
  );
  app.get(
    '/:ws/affinity_groups/',
    { schema: { params: WsParams, response: { 200: AffinityGroupList, ...errors }, tags } },
    async (req) => ({ affinity_groups: await s.vms.affinityGroups(await who(req), req.params.ws) }),
  );
  // ?task=: only a record that task created (the undo of an interrupted accept).
  app.delete(
    '/:ws/vms/:name/',
    { schema: { params: WsNameParams, querystring: TaskQuery, response: { 200: Deleted, ...errors }, tags } },
    async (req) => s.vms.remove(await who(req), req.params.ws, req.params.name, req.query.task),
  );
}
