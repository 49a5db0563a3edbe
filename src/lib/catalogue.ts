// The catalogue admins register once in inventory (hosts, pools, areas, templates), as compute, network and
// monitoring read it: one cache, each kind read whole (page after page, never one page taken for the
// whole), kept for a few seconds, read again at once for a name it does not know.
import type { CatalogueObjects, InventoryClient } from './clients/inventory.ts';
import type { Area, Host, Pool, Template } from './contracts/inventory.ts';

export interface Cached<T> {
  /** Every one, as inventory listed it at most `maxAgeMs` ago (default: the cache's time to live). */
  all(maxAgeMs?: number): Promise<T[]>;
  /** One by name; a name the cache does not know is looked for again in a fresh listing. */
  get(name: string): Promise<T | undefined>;
  /** Reads the whole list again now (concurrent callers share one read). */
  refresh(): Promise<T[]>;
}

export interface Catalogue {
  hosts: Cached<Host>;
  pools: Cached<Pool>;
  areas: Cached<Area>;
  templates: Cached<Template>;
}

function cached<T extends { name: string }>(source: CatalogueObjects<T>, ttlMs: number): Cached<T> {
  let held: { at: number; items: T[] } | undefined;
  let reading: Promise<T[]> | undefined;
  const refresh = () =>
    (reading ??= source
      .list()
      .then((items) => {
        held = { at: Date.now(), items };
        return items;
      })
      .finally(() => (reading = undefined)));
  // An empty list is not kept: it is what a reader sees just before the first ones are registered.
  const all = async (maxAgeMs = ttlMs) =>
    held?.items.length && Date.now() - held.at < maxAgeMs ? held.items : refresh();
  return {
    all,
    refresh,
    async get(name) {
      return (await all()).find((x) => x.name === name) ?? (await refresh()).find((x) => x.name === name);
    },
  };
}

export function createCatalogue(
  inventory: Pick<InventoryClient, 'hosts' | 'pools' | 'areas' | 'templates'>,
  ttlMs = 5000,
): Catalogue {
  return {
    hosts: cached(inventory.hosts, ttlMs),
    pools: cached(inventory.pools, ttlMs),
    areas: cached(inventory.areas, ttlMs),
    templates: cached(inventory.templates, ttlMs),
  };
}
