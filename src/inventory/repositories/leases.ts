// Area address leases: one row per address handed out (to a task, then to the VM that holds it).
import { sql } from 'kysely';
import type { Db } from './index.ts';

export function leasesRepository(db: Db) {
  const of = (areaId: number) => db.selectFrom('ip_leases').where('area_id', '=', areaId);
  return {
    /** The address a task took in the area, if it took one. */
    ofTask: (areaId: number, task: string) =>
      of(areaId).select('ip').where('task', '=', task).executeTakeFirst(),
    /** Leased addresses in [from, to]. */
    async takenBetween(areaId: number, from: number, to: number) {
      const rows = await of(areaId).select('ip').where('ip', '>=', from).where('ip', '<=', to).execute();
      return new Set(rows.map((r) => Number(r.ip)));
    },
    /** The first address of [first, last] that is not the gateway and not leased, counting from `next` and
     * wrapping around (one query over the whole subnet). */
    async firstFree(areaId: number, s: { first: number; last: number }, gateway: number, next: number) {
      const { rows } = await sql<{ ip: number }>`
        SELECT g.ip FROM generate_series(${s.first}::bigint, ${s.last}::bigint) AS g(ip)
        WHERE g.ip <> ${gateway} AND NOT EXISTS (SELECT 1 FROM ip_leases l WHERE l.area_id = ${areaId} AND l.ip = g.ip)
        ORDER BY (g.ip < ${next}), g.ip LIMIT 1`.execute(db);
      return rows[0] ? Number(rows[0].ip) : undefined;
    },
    async insert(l: { area_id: number; ip: number; vm_id: number | null; task: string | null }) {
      await db.insertInto('ip_leases').values(l).execute();
    },
    /** Leases an address to a VM unless someone holds it; answers whether it did. */
    insertIfFree: async (areaId: number, ip: number, vmId: number) =>
      (await db
        .insertInto('ip_leases')
        .values({ area_id: areaId, ip, vm_id: vmId })
        .onConflict((oc) => oc.columns(['area_id', 'ip']).doNothing())
        .returning('ip')
        .executeTakeFirst()) !== undefined,
    /** The lease of one address, locked until the transaction ends. */
    lock: (areaId: number, ip: number) =>
      of(areaId).select('vm_id').where('ip', '=', ip).forUpdate().executeTakeFirst(),
    async giveTo(areaId: number, ip: number, vmId: number) {
      await db
        .updateTable('ip_leases')
        .set({ vm_id: vmId })
        .where('area_id', '=', areaId)
        .where('ip', '=', ip)
        .execute();
    },
    /** A lease of the area, if it has any. */
    some: (areaId: number) => of(areaId).select('ip').executeTakeFirst(),
    /** The lease of this address, if it is leased. */
    at: (areaId: number, ip: number) => of(areaId).select('ip').where('ip', '=', ip).executeTakeFirst(),
    /** Gives back what a task took that no VM holds; answers how many. */
    releaseTask: async (areaId: number, task: string) =>
      Number(
        (
          await db
            .deleteFrom('ip_leases')
            .where('area_id', '=', areaId)
            .where('task', '=', task)
            .where('vm_id', 'is', null)
            .executeTakeFirst()
        ).numDeletedRows,
      ),
    /** Gives back one address no VM holds; answers whether it did. */
    release: async (areaId: number, ip: number) =>
      (
        await db
          .deleteFrom('ip_leases')
          .where('area_id', '=', areaId)
          .where('ip', '=', ip)
          .where('vm_id', 'is', null)
          .executeTakeFirst()
      ).numDeletedRows > 0n,
  };
}
