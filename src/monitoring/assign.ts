// How the leader splits the hosts (and pools) among the live monitoring members: evenly, to within one, and
// sticky, so a member joining or leaving moves only the items it must.

/**
 * Splits `items` among `members`: every member gets floor(n/m) or ceil(n/m) items. Items stay with their
 * previous owner (`previous`: item -> member) while that owner is a member with room; the rest fill the
 * members with the fewest, in order. Deterministic for the same inputs.
 */
export function assignEvenly(
  items: string[],
  members: string[],
  previous: ReadonlyMap<string, string> = new Map(),
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const ms = [...new Set(members)].sort();
  for (const m of ms) out.set(m, []);
  if (!ms.length) return out;
  const sorted = [...new Set(items)].sort();
  const base = Math.floor(sorted.length / ms.length);
  const extra = sorted.length % ms.length;

  const kept = new Map<string, string[]>(ms.map((m) => [m, []]));
  for (const item of sorted) {
    const owner = previous.get(item);
    if (owner !== undefined && kept.has(owner)) kept.get(owner)!.push(item);
  }
  // The members keeping the most get the `extra` larger quotas: fewer items move.
  const byKept = [...ms].sort((a, b) => kept.get(b)!.length - kept.get(a)!.length || a.localeCompare(b));
  const quota = new Map(byKept.map((m, i) => [m, base + (i < extra ? 1 : 0)]));

  const loose: string[] = [];
  for (const item of sorted) {
    const owner = previous.get(item);
    const mine = owner !== undefined ? out.get(owner) : undefined;
    if (mine && mine.length < quota.get(owner!)!) mine.push(item);
    else loose.push(item);
  }
  for (const item of loose) {
    const m = byKept.find((x) => out.get(x)!.length < quota.get(x)!)!;
    out.get(m)!.push(item);
  }
  return out;
}

/** item -> member, for the next call's `previous`. */
export function ownersOf(assignment: ReadonlyMap<string, string[]>): Map<string, string> {
  const owners = new Map<string, string>();
  for (const [m, items] of assignment) for (const i of items) owners.set(i, m);
  return owners;
}
