// The journal of the controller's accepts (migration 013): per task, the answer its accept gave and how to
// undo what it wrote. Written in the accept's own transaction, so it holds exactly what committed.
import { sql } from 'kysely';
import type { Db } from './index.ts';

/** The tables whose records an accept makes or changes the state of. */
export type RecordTable = 'vms' | 'networks' | 'routers';

export function acceptsRepository(db: Db) {
  return {
    /**
     * Records a task's accept; false when the task has a row already (accepted before, or undone). A share
     * (quotas.ts Take, JSON) is taken at the commit, which fails with SQLSTATE KQ001 when it is refused.
     */
    record: async (row: {
      task: string;
      workspace_id: number;
      op: string;
      answer: string;
      undo: string;
      share?: string | null;
    }) =>
      (await db
        .insertInto('accepts')
        .values(row)
        .onConflict((oc) => oc.column('task').doNothing())
        .returning('task')
        .executeTakeFirst()) !== undefined,
    one: (task: string) =>
      db
        .selectFrom('accepts')
        .select(['workspace_id', 'op', 'undone', 'answer'])
        .where('task', '=', task)
        .executeTakeFirst(),
    /**
     * Marks the task undone, or leaves a tombstone when it never wrote (its accept, if still on the way, is
     * then refused: both write this row, so one waits for the other). Answers the undo list to apply the first
     * time only; undefined when there is nothing (left) to undo here.
     */
    markUndone: async (task: string, workspaceId: number) =>
      (
        await db
          .insertInto('accepts')
          .values({ task, workspace_id: workspaceId, op: '', undone: true, answer: null, undo: '[]' })
          .onConflict((oc) =>
            oc
              .column('task')
              .doUpdateSet({ undone: true })
              .where('accepts.undone', '=', false)
              .where('accepts.workspace_id', '=', workspaceId),
          )
          .returning('undo')
          .executeTakeFirst()
      )?.undo,
    /** Deletes a record the task made (only if that task made it). */
    removeMade: async (table: RecordTable, id: number, task: string) =>
      Number(
        (
          await sql`DELETE FROM ${sql.table(table)} WHERE id = ${id}::int AND task = ${task}::text`.execute(
            db,
          )
        ).numAffectedRows ?? 0,
      ),
    /** Puts a record's state back, if it is still the one the task set. */
    restoreState: async (table: RecordTable, id: number, from: string, to: string) =>
      Number(
        (
          await sql`UPDATE ${sql.table(table)} SET state = ${from}::text WHERE id = ${id}::int AND state = ${to}::text`.execute(
            db,
          )
        ).numAffectedRows ?? 0,
      ),
    /** Puts a VM's groups and size back (what the task's accept wrote over). */
    restoreVm: async (
      id: number,
      values: { security_groups?: string[]; cpu?: number; ram?: number },
    ): Promise<number> => {
      const { security_groups, ...size } = values;
      const set = {
        ...size,
        ...(security_groups ? { security_groups: JSON.stringify(security_groups) } : {}),
      };
      if (!Object.keys(set).length) return 0;
      const r = await db.updateTable('vms').set(set).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows);
    },
    /** Forgets journal rows older than this: long after any accept or undo of theirs could still arrive. */
    prune: async (olderThanDays: number) =>
      Number(
        (
          await db
            .deleteFrom('accepts')
            .where('created_at', '<', sql<Date>`now() - make_interval(days => ${olderThanDays})`)
            .executeTakeFirst()
        ).numDeletedRows,
      ),
  };
}
