// Security group records of a workspace (issue 17), and which VMs name a group.
import { sql } from 'kysely';
import type { SecurityGroup, SgRule } from '../../lib/contracts/secgroups.ts';
import type { Db, Page } from './index.ts';

export function securityGroupsRepository(db: Db) {
  const views = (workspaceId: number) =>
    db
      .selectFrom('security_groups')
      .select(['name', 'description', 'rules'])
      .where('workspace_id', '=', workspaceId);
  return {
    list(workspaceId: number, page: Page): Promise<SecurityGroup[]> {
      let q = views(workspaceId).orderBy('name').limit(page.limit);
      if (page.marker) q = q.where('name', '>', page.marker);
      return q.execute();
    },
    one: (workspaceId: number, name: string): Promise<SecurityGroup | undefined> =>
      views(workspaceId).where('name', '=', name).executeTakeFirst(),
    /** Names of the workspace's groups. */
    names: async (workspaceId: number) =>
      new Set(
        (
          await db
            .selectFrom('security_groups')
            .select('name')
            .where('workspace_id', '=', workspaceId)
            .execute()
        ).map((r) => r.name),
      ),
    async insert(row: {
      workspace_id: number;
      name: string;
      description: string;
      rules: SgRule[];
      task: string | null;
    }) {
      await db
        .insertInto('security_groups')
        .values({ ...row, rules: JSON.stringify(row.rules) })
        .execute();
    },
    update: async (workspaceId: number, name: string, set: { description?: string; rules?: SgRule[] }) =>
      (
        await db
          .updateTable('security_groups')
          .set({
            ...(set.description !== undefined ? { description: set.description } : {}),
            ...(set.rules !== undefined ? { rules: JSON.stringify(set.rules) } : {}),
          })
          .where('workspace_id', '=', workspaceId)
          .where('name', '=', name)
          .executeTakeFirst()
      ).numUpdatedRows,
    remove: async (workspaceId: number, name: string, task?: string) => {
      let q = db
        .deleteFrom('security_groups')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name);
      if (task) q = q.where('task', '=', task);
      return (await q.executeTakeFirst()).numDeletedRows;
    },
    /** VMs of the workspace whose NICs belong to the group. */
    usersOf: async (workspaceId: number, name: string) =>
      (
        await db
          .selectFrom('vms')
          .select('name')
          .where('workspace_id', '=', workspaceId)
          .where(sql<boolean>`security_groups @> ${JSON.stringify([name])}::jsonb`)
          .orderBy('name')
          .execute()
      ).map((r) => r.name),
    /** Other groups of the workspace whose rules name it as remote_group. */
    referrersOf: async (workspaceId: number, name: string) =>
      (
        await db
          .selectFrom('security_groups')
          .select('name')
          .where('workspace_id', '=', workspaceId)
          .where('name', '<>', name)
          .where(sql<boolean>`rules @> ${JSON.stringify([{ remote_group: name }])}::jsonb`)
          .execute()
      ).map((r) => r.name),
  };
}
