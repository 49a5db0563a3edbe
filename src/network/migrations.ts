import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely';

export const networkMigrations: Record<string, Migration> = {
  '001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('networks')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('vlan', 'integer', (c) => c.notNull().unique())
        .addColumn('subnet', 'text')
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addUniqueConstraint('networks_ws_name', ['workspace', 'name'])
        .execute();
      await db.schema
        .createTable('ports')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('dev', 'text', (c) => c.notNull())
        .addColumn('mac', 'text', (c) => c.notNull())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('vm', 'text', (c) => c.notNull())
        .addColumn('network', 'text', (c) => c.notNull())
        .addColumn('vlan', 'integer', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ports_pk', ['host', 'dev'])
        .execute();
      await db.schema
        .createTable('routers')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addUniqueConstraint('routers_ws_name', ['workspace', 'name'])
        .execute();
      await db.schema
        .createTable('router_ports')
        .addColumn('router_id', 'integer', (c) => c.notNull().references('routers.id').onDelete('cascade'))
        .addColumn('network', 'text', (c) => c.notNull())
        .addColumn('dev', 'text', (c) => c.notNull())
        .addColumn('vlan', 'integer', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('router_ports_pk', ['router_id', 'network'])
        .execute();
      await db.schema
        .createTable('handled')
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('result', 'jsonb', (c) => c.notNull())
        .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('handled_pk', ['task_id', 'attempt', 'kind'])
        .execute();
    },
  },
  // Each VM's public port with the one MAC and IPv4 it may send from (issue 14): the anti-spoofing rules on
  // the host's public bridge are made from these rows, and put back from them by the reconciler.
  '002_public_ports': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('public_ports')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('dev', 'text', (c) => c.notNull())
        .addColumn('mac', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('vm', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('public_ports_pk', ['host', 'dev'])
        .execute();
    },
  },
};
