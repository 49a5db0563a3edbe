// The operators' catalogue: templates, areas, hosts and pools, each read as the API shows it (names of what
// it refers to, not ids).
import type { Insertable } from 'kysely';
import type { InventoryDB } from '../schema.ts';
import type { Db, Page } from './index.ts';

const TEMPLATE_COLUMNS = [
  'name',
  'description',
  'os',
  'cpu',
  'ram',
  'disk',
  'image',
  'kernel',
  'initrd',
  'cmdline',
] as const;
const AREA_COLUMNS = ['name', 'subnet', 'gateway', 'next_ip'] as const;

export function templatesRepository(db: Db) {
  const views = () => db.selectFrom('templates').select([...TEMPLATE_COLUMNS]);
  return {
    list(page: Page) {
      let q = views().orderBy('templates.name').limit(page.limit);
      if (page.marker) q = q.where('templates.name', '>', page.marker);
      return q.execute();
    },
    one: (name: string) => views().where('templates.name', '=', name).executeTakeFirst(),
    idOf: (name: string) =>
      db.selectFrom('templates').select('id').where('name', '=', name).executeTakeFirst(),
    row: (name: string) => db.selectFrom('templates').selectAll().where('name', '=', name).executeTakeFirst(),
    async insert(row: Insertable<InventoryDB['templates']>) {
      await db.insertInto('templates').values(row).execute();
    },
    async update(id: number, row: Insertable<InventoryDB['templates']>) {
      await db.updateTable('templates').set(row).where('id', '=', id).execute();
    },
    remove: async (name: string) =>
      (await db.deleteFrom('templates').where('name', '=', name).executeTakeFirst()).numDeletedRows,
  };
}

export function areasRepository(db: Db) {
  const views = () => db.selectFrom('areas').select([...AREA_COLUMNS]);
  return {
    list(page: Page) {
      let q = views().orderBy('areas.name').limit(page.limit);
      if (page.marker) q = q.where('areas.name', '>', page.marker);
      return q.execute();
    },
    one: (name: string) => views().where('areas.name', '=', name).executeTakeFirst(),
    idOf: (name: string) => db.selectFrom('areas').select('id').where('name', '=', name).executeTakeFirst(),
    row: (name: string) => db.selectFrom('areas').selectAll().where('name', '=', name).executeTakeFirst(),
    /** The area row, locked until the transaction ends (one address handed out at a time per area). */
    lock: (name: string) =>
      db.selectFrom('areas').selectAll().where('name', '=', name).forUpdate().executeTakeFirst(),
    byId: (id: number) =>
      db.selectFrom('areas').select(['subnet', 'gateway']).where('id', '=', id).executeTakeFirstOrThrow(),
    async insert(row: Insertable<InventoryDB['areas']>) {
      await db.insertInto('areas').values(row).execute();
    },
    async update(id: number, row: Insertable<InventoryDB['areas']>) {
      await db.updateTable('areas').set(row).where('id', '=', id).execute();
    },
    async setNextIp(id: number, nextIp: string) {
      await db.updateTable('areas').set({ next_ip: nextIp }).where('id', '=', id).execute();
    },
    /** The area (for its allocator) and the template of a VM create, in one query; template fields are null
     * when there is no such template, and there is no row when there is no such area. */
    withTemplate: (area: string, template: string) =>
      db
        .selectFrom('areas')
        .leftJoin('templates', (j) => j.on('templates.name', '=', template))
        .select([
          'areas.id',
          'areas.name',
          'areas.subnet',
          'areas.gateway',
          'areas.next_ip',
          'templates.id as template_id',
          'templates.name as template_name',
          'templates.description as template_description',
          'templates.os',
          'templates.cpu',
          'templates.ram',
          'templates.disk',
          'templates.image',
          'templates.kernel',
          'templates.initrd',
          'templates.cmdline',
        ])
        .where('areas.name', '=', area)
        .executeTakeFirst(),
    /** Moves next_ip on to `to` unless another allocation moved it since (it was `from`). */
    async catchUp(id: number, from: string, to: string) {
      await db
        .updateTable('areas')
        .set({ next_ip: to })
        .where('id', '=', id)
        .where('next_ip', '=', from)
        .execute();
    },
    remove: async (name: string) =>
      (await db.deleteFrom('areas').where('name', '=', name).executeTakeFirst()).numDeletedRows,
  };
}

export function hostsRepository(db: Db) {
  // Shown with the name of their area.
  const views = () =>
    db
      .selectFrom('hosts')
      .innerJoin('areas', 'areas.id', 'hosts.area_id')
      .select([
        'hosts.name',
        'hosts.address',
        'hosts.libvirt_uri',
        'hosts.cpus',
        'hosts.memory',
        'hosts.domain_type',
        'hosts.maintenance',
        'areas.name as area',
      ]);
  return {
    list(page: Page) {
      let q = views().orderBy('hosts.name').limit(page.limit);
      if (page.marker) q = q.where('hosts.name', '>', page.marker);
      return q.execute();
    },
    one: (name: string) => views().where('hosts.name', '=', name).executeTakeFirst(),
    row: (name: string) => db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst(),
    async insert(row: Insertable<InventoryDB['hosts']>) {
      await db.insertInto('hosts').values(row).execute();
    },
    async update(id: number, row: Insertable<InventoryDB['hosts']>) {
      await db.updateTable('hosts').set(row).where('id', '=', id).execute();
    },
    remove: async (name: string) =>
      (await db.deleteFrom('hosts').where('name', '=', name).executeTakeFirst()).numDeletedRows,
  };
}

export function poolsRepository(db: Db) {
  const views = () =>
    db
      .selectFrom('pools')
      .innerJoin('areas', 'areas.id', 'pools.area_id')
      .select(['pools.name', 'pools.path', 'pools.size', 'areas.name as area']);
  return {
    list(page: Page) {
      let q = views().orderBy('pools.name').limit(page.limit);
      if (page.marker) q = q.where('pools.name', '>', page.marker);
      return q.execute();
    },
    one: (name: string) => views().where('pools.name', '=', name).executeTakeFirst(),
    row: (name: string) => db.selectFrom('pools').selectAll().where('name', '=', name).executeTakeFirst(),
    async insert(row: Insertable<InventoryDB['pools']>) {
      await db.insertInto('pools').values(row).execute();
    },
    async update(id: number, row: Insertable<InventoryDB['pools']>) {
      await db.updateTable('pools').set(row).where('id', '=', id).execute();
    },
    remove: async (name: string) =>
      (await db.deleteFrom('pools').where('name', '=', name).executeTakeFirst()).numDeletedRows,
  };
}
