// VLAN ids: unique across the deployment (a unique column decides races between instances), taken from the
// configured ranges minus the reserved ones, lowest free first.
import type { Kysely } from 'kysely';
import { conflict } from '../lib/errors.ts';
import { isUniqueViolation } from '../lib/db.ts';
import type { NetworkDB } from './schema.ts';

export type Ranges = [number, number][];

export function firstFree(allowed: Ranges, reserved: Ranges, used: Set<number>): number | undefined {
  const isReserved = (v: number) => reserved.some(([lo, hi]) => v >= lo && v <= hi);
  for (const [lo, hi] of [...allowed].sort((a, b) => a[0] - b[0]))
    for (let v = lo; v <= hi; v++) if (!used.has(v) && !isReserved(v)) return v;
  return undefined;
}

/** Inserts the network with a free VLAN; retries when another instance took the same id meanwhile. */
export async function insertWithVlan(
  db: Kysely<NetworkDB>,
  row: { workspace: string; name: string; subnet: string | null; task_id: string },
  allowed: Ranges,
  reserved: Ranges,
): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const used = new Set((await db.selectFrom('networks').select('vlan').execute()).map((r) => r.vlan));
    const vlan = firstFree(allowed, reserved, used);
    if (vlan === undefined)
      throw conflict('vlan', 'no free VLAN left in the configured ranges (KLOUDAK_VLANS)');
    try {
      await db
        .insertInto('networks')
        .values({ ...row, vlan })
        .execute();
      return vlan;
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      const mine = await db
        .selectFrom('networks')
        .select(['vlan', 'task_id'])
        .where('workspace', '=', row.workspace)
        .where('name', '=', row.name)
        .executeTakeFirst();
      if (mine) {
        if (mine.task_id === row.task_id) return mine.vlan;
        throw conflict('name', `network ${row.workspace}/${row.name} exists`);
      }
    }
  }
  throw conflict('vlan', 'could not take a VLAN: too much contention');
}
