// Anti-affinity groups (issue 18 item 3, docs/operations.md "Anti-affinity groups"): the VMs of one
// workspace's group run on different hosts while the area has enough. The rule sits on top of placement
// (monitoring's or compute's own, maintenance hosts already left out): hosts running another VM of the group
// join the request's exclusions; when no other host fits, what happens is the caller's choice:
// - create, live migration and failover place anyway (`soft`): a VM that runs beats a group kept apart; the
//   answer names the VMs it now shares a host with, and the task (or failover's log) says so;
// - a drain keeps the group (`strict`) unless the operator said to break it: the VM stays where it is and
//   the conflict names it, its group and the hosts that hold the group.
import type { Kysely } from 'kysely';
import { conflict, isAppError } from '../lib/errors.ts';
import type { HostRequest, Placement } from './placement.ts';
import type { ComputeDB } from './schema.ts';

/** A VM's group: `self` (its compute id) is not counted as a member elsewhere. */
export interface GroupRef {
  workspace: string;
  group: string | null;
  self?: number;
}

/** Hosts running VMs of the group (a host → the VMs' names), besides `self`. */
export async function groupHosts(db: Kysely<ComputeDB>, g: GroupRef): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!g.group) return out;
  let q = db
    .selectFrom('vms')
    .select(['id', 'name', 'host'])
    .where('workspace', '=', g.workspace)
    .where('affinity_group', '=', g.group)
    .where('state', '!=', 'deleting');
  if (g.self !== undefined) q = q.where('id', '!=', g.self);
  for (const r of await q.orderBy('name').execute()) out.set(r.host, [...(out.get(r.host) ?? []), r.name]);
  return out;
}

/** Where placement put the VM, and the group's VMs already there (empty: the group is kept apart). */
export interface Spread {
  host: string;
  joins: string[];
}

/** Merges `extra` (moves decided but not recorded yet, a drain's) into `taken`. */
function merged(taken: Map<string, string[]>, extra: Map<string, string[]> | undefined) {
  const out = new Map(taken);
  for (const [h, names] of extra ?? []) out.set(h, [...(out.get(h) ?? []), ...names]);
  return out;
}

/**
 * Places a VM of group g on a host without another VM of it when one fits; else, `strict` fails with a
 * conflict on `affinity_group` naming the group and its hosts, and soft placement takes any host that fits.
 * Any other refusal of placement (no room at all) is placement's own.
 */
export async function placeApart(
  db: Kysely<ComputeDB>,
  placement: Pick<Placement, 'host'>,
  r: HostRequest,
  g: GroupRef,
  opts: { strict?: boolean; pending?: Map<string, string[]> } = {},
): Promise<Spread> {
  const taken = merged(await groupHosts(db, g), opts.pending);
  if (!taken.size) return { host: await placement.host(r), joins: [] };
  try {
    const host = await placement.host({
      ...r,
      exclude: [...new Set([...(r.exclude ?? []), ...taken.keys()])],
    });
    return { host, joins: [] };
  } catch (e) {
    if (!isAppError(e) || e.kind !== 'conflict') throw e;
    if (opts.strict)
      throw conflict(
        'affinity_group',
        `no host of area ${r.area} with room is free of anti-affinity group ${g.group} (${describe(taken)})`,
      );
    const host = await placement.host(r);
    return { host, joins: taken.get(host) ?? [] };
  }
}

/** `h1: a, b; h2: c` */
const describe = (taken: Map<string, string[]>) =>
  [...taken].map(([h, names]) => `${h}: ${names.join(', ')}`).join('; ');

/** What a task says when the group could not be kept apart. */
export const sharedHostWarning = (group: string, s: Spread, why = 'no other host of the area has room') =>
  `anti-affinity group ${group} not honoured: ${s.host} also runs ${s.joins.join(', ')} (${why})`;

/** Serializes placement decisions per group within this process: two VMs of one group placed at the same
 * time would each see the other's host still free. */
export function createGroupLocks() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withGroup<T>(g: GroupRef, fn: () => Promise<T>): Promise<T> {
    if (!g.group) return fn();
    const key = `${g.workspace}/${g.group}`;
    const prev = tails.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
export type GroupLocks = ReturnType<typeof createGroupLocks>;
