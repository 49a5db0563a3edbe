// Area address leases: one row per address handed out (to a task, then to the VM that holds it).
import { sql } from 'kysely';
import type { Db } from './index.ts';

/** Advisory lock keys of an address being taken: (area id, address) for areas, (-network id, address) for the
 * addresses of networks with a subnet. Addresses are unsigned 32-bit, the key's second half a signed one. */
export const addressLockKey = (space: number, ip: number) => [space, ip - 2 ** 31] as const;

export function leasesRepository(db: Db) {
  const of = (areaId: number) => db.selectFrom('ip_leases').where('area_id', '=', areaId);
  return {
    /**
     * Leases the first free address of [first, last] from `hint` on (wrapping), never the gateway, in one
     * statement that waits for nobody: an address another transaction is taking right now (it holds the
     * address's advisory lock until it ends) is skipped. With `vmId`, the lease is that VM's and the VM's ip is
     * set. Answers the address taken; `candidate` without `taken` means a transaction that committed since this
     * statement began took the candidate (try again); neither means no address is free.
     */
    async claim(a: {
      areaId: number;
      first: number;
      last: number;
      gateway: number;
      hint: number;
      vmId: number | null;
      task: string | null;
    }): Promise<{ candidate?: number; taken?: number }> {
      const hint = Math.min(Math.max(a.hint, a.first), a.last);
      // In address order, streamed: the lease lookup is a scalar subquery (an index probe per address), which
      // the planner cannot turn into an anti-join that would hash the series and lose its order. OFFSET 0
      // keeps the lock out of the subquery: only addresses free in this snapshot are tried, and the LIMIT stops
      // at the first one locked (the CTE holds a volatile call: it runs once).
      const { rows } = await sql<{ candidate: string | null; taken: string | null }>`
        WITH c AS (
          SELECT f.ip FROM (
            SELECT g.ip FROM (
              SELECT generate_series(${hint}::bigint, ${a.last}::bigint) AS ip
              UNION ALL
              SELECT generate_series(${a.first}::bigint, ${hint - 1}::bigint)
            ) g
            WHERE g.ip <> ${a.gateway}::bigint
              AND (SELECT 1 FROM ip_leases l WHERE l.area_id = ${a.areaId}::int AND l.ip = g.ip) IS NULL
            OFFSET 0
          ) f
          WHERE pg_try_advisory_xact_lock(${a.areaId}::int, (f.ip - 2147483648)::int)
          LIMIT 1
        ), ins AS (
          INSERT INTO ip_leases (area_id, ip, vm_id, task)
          SELECT ${a.areaId}::int, c.ip, ${a.vmId}::int, ${a.task}::text FROM c
          ON CONFLICT (area_id, ip) DO NOTHING
          RETURNING ip
        ), vm AS (
          -- Runs whether or not it is read (a data-modifying CTE): the VM gets the address in the same statement.
          UPDATE vms SET ip = host('0.0.0.0'::inet + ins.ip) FROM ins WHERE vms.id = ${a.vmId}::int
        )
        SELECT (SELECT ip FROM c) AS candidate, (SELECT ip FROM ins) AS taken`.execute(db);
      const r = rows[0];
      return {
        ...(r?.candidate != null ? { candidate: Number(r.candidate) } : {}),
        ...(r?.taken != null ? { taken: Number(r.taken) } : {}),
      };
    },
    /** Waits for the address's advisory lock (held to the end of the transaction): a claim skips it meanwhile. */
    async lockAddress(areaId: number, ip: number) {
      const [k1, k2] = addressLockKey(areaId, ip);
      await sql`SELECT pg_advisory_xact_lock(${k1}::int, ${k2}::int)`.execute(db);
    },
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
