// The monitor database: hosts' and pools' current figures (one row each, kept up to date by the workers),
// time series of usage (hosts, pools, VMs; trimmed to MONITOR_RETENTION), and placement reservations.
import { sql, type ColumnType, type Generated, type Kysely } from 'kysely';
import type { Migration } from 'kysely';

export interface MonitorDB {
  hosts: {
    name: string;
    area: string;
    address: string;
    libvirt_uri: string;
    /** As registered in inventory: CPUs and memory (MiB) VMs may use. */
    reg_cpus: number;
    reg_memory_mib: number;
    up: Generated<boolean>;
    /** Failed checks in a row. */
    failures: Generated<number>;
    /** False while the last up/down change is not yet published. */
    notified: Generated<boolean>;
    changed_at: Generated<Date>;
    checked_at: Date | null;
    seen_at: Date | null;
    last_error: string | null;
    cpus: number | null;
    memory_mib: number | null;
    free_mib: number | null;
    /** Memory (MiB) and vCPUs of the running domains at the last check. */
    alloc_mib: Generated<number>;
    alloc_vcpus: Generated<number>;
    running: Generated<number>;
    /** Fraction of the host's CPU time busy between the last two checks. */
    cpu_busy: number | null;
    cpu_prev: ColumnType<Record<string, number> | null, string | null, string | null>;
  };
  pools: {
    name: string;
    area: string;
    path: string;
    reg_size_gib: number;
    checked_at: Date | null;
    last_error: string | null;
    fs_size_gib: number | null;
    fs_free_gib: number | null;
    used_gib: number | null;
  };
  host_samples: {
    host: string;
    at: Date;
    free_mib: number;
    alloc_mib: number;
    alloc_vcpus: number;
    running: number;
    cpu_busy: number | null;
  };
  pool_samples: { pool: string; at: Date; fs_free_gib: number; used_gib: number };
  vm_samples: {
    domain: string;
    workspace: string | null;
    vm: string | null;
    host: string;
    at: Date;
    cpu_time_ns: number;
    cpu_user_ns: number;
    cpu_system_ns: number;
    memory_kib: number;
    rss_kib: number | null;
    vcpus: number;
  };
  reservations: {
    id: Generated<number>;
    host: string;
    memory_mib: number;
    vcpus: number;
    expires_at: Date;
    /** The domain it holds room for (placement_host's `domain`), when the request named one. */
    domain: string | null;
  };
}

export const monitorMigrations: Record<string, Migration> = {
  '001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('hosts')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('area', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('libvirt_uri', 'text', (c) => c.notNull())
        .addColumn('reg_cpus', 'integer', (c) => c.notNull())
        .addColumn('reg_memory_mib', 'double precision', (c) => c.notNull())
        .addColumn('up', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('notified', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('checked_at', 'timestamptz')
        .addColumn('seen_at', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('cpus', 'integer')
        .addColumn('memory_mib', 'double precision')
        .addColumn('free_mib', 'double precision')
        .addColumn('alloc_mib', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('alloc_vcpus', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('running', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('cpu_busy', 'double precision')
        .addColumn('cpu_prev', 'jsonb')
        .execute();
      await db.schema
        .createTable('pools')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('area', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('reg_size_gib', 'double precision', (c) => c.notNull())
        .addColumn('checked_at', 'timestamptz')
        .addColumn('last_error', 'text')
        .addColumn('fs_size_gib', 'double precision')
        .addColumn('fs_free_gib', 'double precision')
        .addColumn('used_gib', 'double precision')
        .execute();
      await db.schema
        .createTable('host_samples')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('free_mib', 'double precision', (c) => c.notNull())
        .addColumn('alloc_mib', 'double precision', (c) => c.notNull())
        .addColumn('alloc_vcpus', 'integer', (c) => c.notNull())
        .addColumn('running', 'integer', (c) => c.notNull())
        .addColumn('cpu_busy', 'double precision')
        .execute();
      await db.schema
        .createIndex('host_samples_host_at')
        .on('host_samples')
        .columns(['host', 'at'])
        .execute();
      await db.schema.createIndex('host_samples_at').on('host_samples').column('at').execute();
      await db.schema
        .createTable('pool_samples')
        .addColumn('pool', 'text', (c) => c.notNull())
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('fs_free_gib', 'double precision', (c) => c.notNull())
        .addColumn('used_gib', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('pool_samples_pool_at')
        .on('pool_samples')
        .columns(['pool', 'at'])
        .execute();
      await db.schema
        .createTable('vm_samples')
        .addColumn('domain', 'text', (c) => c.notNull())
        .addColumn('workspace', 'text')
        .addColumn('vm', 'text')
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('cpu_time_ns', 'double precision', (c) => c.notNull())
        .addColumn('cpu_user_ns', 'double precision', (c) => c.notNull())
        .addColumn('cpu_system_ns', 'double precision', (c) => c.notNull())
        .addColumn('memory_kib', 'double precision', (c) => c.notNull())
        .addColumn('rss_kib', 'double precision')
        .addColumn('vcpus', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('vm_samples_ws_vm_at')
        .on('vm_samples')
        .columns(['workspace', 'vm', 'at'])
        .execute();
      await db.schema.createIndex('vm_samples_at').on('vm_samples').column('at').execute();
      await db.schema
        .createTable('reservations')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('memory_mib', 'double precision', (c) => c.notNull())
        .addColumn('vcpus', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  '002_reservation_domain': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('reservations').addColumn('domain', 'text').execute();
    },
  },
};
