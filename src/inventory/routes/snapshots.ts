// A VM's snapshot records (services/snapshots.ts): HTTP only.
import { Deleted, ErrorBody } from '../../lib/contracts/common.ts';
import { TaskQuery } from '../../lib/contracts/inventory.ts';
import {
  Snapshot,
  SnapshotBody,
  SnapshotList,
  SnapshotParams,
  SnapshotUpdate,
  VmSnapshotParams,
} from '../../lib/contracts/snapshots.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import type { InventoryServices } from '../services/index.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function snapshotRoutes(app: App, s: Pick<InventoryServices, 'snapshots'>, who: Auth) {
  const sn = s.snapshots;
  const tags = ['vms'];
  app.get(
    '/:ws/vms/:name/snapshots/',
    { schema: { params: VmSnapshotParams, response: { 200: SnapshotList, ...errors }, tags } },
    async (req) => ({ snapshots: await sn.list(await who(req), req.params.ws, req.params.name) }),
  );
  app.get(
    '/:ws/vms/:name/snapshots/:snapshot/',
    { schema: { params: SnapshotParams, response: { 200: Snapshot, ...errors }, tags } },
    async (req) => sn.get(await who(req), req.params.ws, req.params.name, req.params.snapshot),
  );
  app.post(
    '/:ws/vms/:name/snapshots/',
    {
      schema: { params: VmSnapshotParams, body: SnapshotBody, response: { 201: Snapshot, ...errors }, tags },
    },
    async (req, reply) =>
      reply.status(201).send(await sn.create(await who(req), req.params.ws, req.params.name, req.body)),
  );
  app.put(
    '/:ws/vms/:name/snapshots/:snapshot/',
    {
      schema: { params: SnapshotParams, body: SnapshotUpdate, response: { 200: Snapshot, ...errors }, tags },
    },
    async (req) => sn.update(await who(req), req.params.ws, req.params.name, req.params.snapshot, req.body),
  );
  // ?task=: only a record that task created (the undo of an interrupted accept).
  app.delete(
    '/:ws/vms/:name/snapshots/:snapshot/',
    {
      schema: { params: SnapshotParams, querystring: TaskQuery, response: { 200: Deleted, ...errors }, tags },
    },
    async (req) =>
      sn.remove(await who(req), req.params.ws, req.params.name, req.params.snapshot, req.query.task),
  );
}
