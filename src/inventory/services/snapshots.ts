// A VM's snapshot records (issue 15 item 5): members read them, only services write them (users go through
// the controller). A VM of another workspace is a 404 like any other unknown VM.
import type { Principal } from '../../lib/auth.ts';
import type { SnapshotBody, SnapshotUpdate } from '../../lib/contracts/snapshots.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import type { Store } from '../repositories/index.ts';
import { membership, requireServiceWriter } from './access.ts';
import { takeSnapshotShare, type Limits } from './quotas.ts';

export function snapshotsService(store: Store, limits: Limits) {
  const vmOf = async (workspaceId: number, vm: string) => {
    const id = await store.vms.idOf(workspaceId, vm);
    if (id === undefined) throw notFound('name', `no vm ${vm}`);
    return id;
  };
  const one = async (vmId: number, name: string) => {
    const s = await store.snapshots.one(vmId, name);
    if (!s) throw notFound('snapshot', `no snapshot ${name}`);
    return s;
  };
  return {
    async list(p: Principal, ws: string, vm: string) {
      const m = await membership(store, p, ws);
      return store.snapshots.list(await vmOf(m.workspaceId, vm));
    },
    async get(p: Principal, ws: string, vm: string, name: string) {
      const m = await membership(store, p, ws);
      return one(await vmOf(m.workspaceId, vm), name);
    },
    async create(p: Principal, ws: string, vm: string, b: SnapshotBody) {
      const m = await requireServiceWriter(store, p, ws);
      const vmId = await vmOf(m.workspaceId, vm);
      // The workspace's snapshot quota (issue 17), checked with its row locked: two snapshots cannot both
      // take the last unit.
      await store
        .transaction(async (tx) => {
          await takeSnapshotShare(tx, limits, m.workspaceId);
          await tx.snapshots.insert({
            vm_id: vmId,
            name: b.name,
            state: b.state ?? 'C',
            running: b.running ?? null,
            task: b.task ?? null,
          });
        })
        .catch((e: unknown) => {
          if (isUniqueViolation(e)) throw conflict('name', `vm ${vm} has a snapshot ${b.name}`);
          throw e;
        });
      return one(vmId, b.name);
    },
    async update(p: Principal, ws: string, vm: string, name: string, b: SnapshotUpdate) {
      const m = await requireServiceWriter(store, p, ws);
      if (b.state === undefined && b.running === undefined) throw inputError('body', 'nothing to change');
      const vmId = await vmOf(m.workspaceId, vm);
      if (!(await store.snapshots.update(vmId, name, b))) throw notFound('snapshot', `no snapshot ${name}`);
      return one(vmId, name);
    },
    /** With `task`, only a record that task created (the undo of an interrupted accept). */
    async remove(p: Principal, ws: string, vm: string, name: string, task?: string) {
      const m = await requireServiceWriter(store, p, ws);
      if (!(await store.snapshots.remove(await vmOf(m.workspaceId, vm), name, task)))
        throw notFound('snapshot', `no snapshot ${name}`);
      return { name, deleted: true as const };
    },
  };
}
