import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely';

export const computeMigrations: Record<string, Migration> = {
  '001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('vms')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull().unique())
        .addColumn('domain', 'text', (c) => c.notNull().unique())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('dir', 'text', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('memory_mib', 'integer', (c) => c.notNull())
        .addColumn('vcpus', 'integer', (c) => c.notNull())
        .addColumn('disk_gib', 'double precision', (c) => c.notNull())
        .addColumn('nics', 'jsonb', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('vms_ws_name', ['workspace', 'name'])
        .execute();
      await db.schema
        .createTable('handled')
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('result', 'jsonb', (c) => c.notNull())
        .addPrimaryKeyConstraint('handled_pk', ['task_id', 'attempt', 'kind'])
        .execute();
      await db.schema
        .createTable('orphans')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('ref', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('orphans_pk', ['host', 'kind', 'ref'])
        .execute();
      await db.schema
        .createTable('hosts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('libvirt_uri', 'text', (c) => c.notNull())
        .addColumn('area', 'text', (c) => c.notNull())
        .addColumn('cpus', 'integer', (c) => c.notNull())
        .addColumn('memory', 'double precision', (c) => c.notNull())
        .addColumn('domain_type', 'text', (c) => c.notNull())
        .addColumn('up', 'boolean', (c) => c.notNull().defaultTo(true))
        .execute();
      await db.schema
        .createTable('pools')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('area', 'text', (c) => c.notNull())
        .addColumn('size', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('areas')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('subnet', 'text', (c) => c.notNull())
        .addColumn('gateway', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('templates')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('spec', 'jsonb', (c) => c.notNull())
        .execute();
    },
  },
  '002_power': {
    // The power task that last completed on the VM (a reboot redelivered after its start does not reboot
    // again).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('vms').addColumn('power_task', 'text').execute();
    },
  },
  // Inventory's maintenance flag (issue 18): placement leaves such hosts out, whoever decides.
  '003_host_maintenance': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('hosts')
        .addColumn('maintenance', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
  // A VM's anti-affinity group (issue 18 item 3): placement, failover and drains keep the group's VMs apart.
  // Numbered 009 (the controller's number for the same change), leaving room for other branches' 004+.
  '009_affinity_group': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('vms').addColumn('affinity_group', 'text').execute();
    },
  },
};
