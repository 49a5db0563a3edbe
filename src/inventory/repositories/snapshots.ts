// A VM's snapshot records (issue 15 item 5), by the VM's id.
import type { Snapshot } from '../../lib/contracts/snapshots.ts';
import type { Db } from './index.ts';

export function snapshotsRepository(db: Db) {
  const views = (vmId: number) =>
    db
      .selectFrom('vm_snapshots')
      .select(['name', 'state', 'running', 'created_at'])
      .where('vm_id', '=', vmId);
  const view = (r: {
    name: string;
    state: 'C' | 'U';
    running: boolean | null;
    created_at: Date;
  }): Snapshot => ({
    ...r,
    created_at: new Date(r.created_at).toISOString(),
  });
  return {
    /** Oldest first (the order they were taken in). */
    list: async (vmId: number) => (await views(vmId).orderBy('created_at').orderBy('id').execute()).map(view),
    one: async (vmId: number, name: string) => {
      const r = await views(vmId).where('name', '=', name).executeTakeFirst();
      return r && view(r);
    },
    async insert(row: {
      vm_id: number;
      name: string;
      state: 'C' | 'U';
      running: boolean | null;
      task: string | null;
    }) {
      await db.insertInto('vm_snapshots').values(row).execute();
    },
    update: async (vmId: number, name: string, set: { state?: 'C' | 'U'; running?: boolean }) =>
      (
        await db
          .updateTable('vm_snapshots')
          .set(set)
          .where('vm_id', '=', vmId)
          .where('name', '=', name)
          .executeTakeFirst()
      ).numUpdatedRows,
    remove: async (vmId: number, name: string, task?: string) => {
      let q = db.deleteFrom('vm_snapshots').where('vm_id', '=', vmId).where('name', '=', name);
      if (task) q = q.where('task', '=', task);
      return (await q.executeTakeFirst()).numDeletedRows;
    },
  };
}
