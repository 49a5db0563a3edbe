// Inventory schema. Workspace objects cascade from their workspace; a network still used by a VM or a router
// interface cannot go (foreign keys, checked at the end of the statement so a workspace delete still cascades).
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely';
import { PERMISSIONS } from '../lib/auth.ts';
import { DEFAULT_DESCRIPTION, DEFAULT_GROUP, DEFAULT_RULES } from '../lib/contracts/secgroups.ts';

export const inventoryMigrations: Record<string, Migration> = {
  '001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      let members = db.schema
        .createTable('members')
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('members_pk', ['workspace_id', 'user_id']);
      for (const p of PERMISSIONS)
        members = members.addColumn(p, 'boolean', (c) => c.notNull().defaultTo(false));
      await members.execute();
      await db.schema.createIndex('members_user').on('members').column('user_id').execute();

      await db.schema
        .createTable('templates')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('os', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('cpu', 'integer', (c) => c.notNull())
        .addColumn('ram', 'double precision', (c) => c.notNull())
        .addColumn('disk', 'double precision', (c) => c.notNull())
        .addColumn('image', 'text', (c) => c.notNull())
        .addColumn('kernel', 'text')
        .addColumn('initrd', 'text')
        .addColumn('cmdline', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('areas')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('subnet', 'text', (c) => c.notNull())
        .addColumn('gateway', 'text', (c) => c.notNull())
        .addColumn('next_ip', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('hosts')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('libvirt_uri', 'text', (c) => c.notNull())
        .addColumn('area_id', 'integer', (c) => c.notNull().references('areas.id'))
        .addColumn('cpus', 'integer', (c) => c.notNull())
        .addColumn('memory', 'double precision', (c) => c.notNull())
        .addColumn('domain_type', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('pools')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('area_id', 'integer', (c) => c.notNull().references('areas.id'))
        .addColumn('size', 'double precision', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();

      await db.schema
        .createTable('vms')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('ip', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('area_id', 'integer', (c) => c.notNull().references('areas.id'))
        .addColumn('template_id', 'integer', (c) => c.notNull().references('templates.id'))
        .addColumn('host', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('vms_ws_name', ['workspace_id', 'name'])
        .execute();
      await db.schema
        .createTable('ip_leases')
        .addColumn('area_id', 'integer', (c) => c.notNull().references('areas.id').onDelete('cascade'))
        .addColumn('ip', 'bigint', (c) => c.notNull())
        .addColumn('vm_id', 'integer', (c) => c.references('vms.id').onDelete('cascade'))
        .addColumn('leased_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('ip_leases_pk', ['area_id', 'ip'])
        .execute();
      await db.schema
        .createTable('networks')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('vlan', 'integer')
        .addColumn('subnet', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('networks_ws_name', ['workspace_id', 'name'])
        .execute();
      await db.schema
        .createTable('vm_networks')
        .addColumn('vm_id', 'integer', (c) => c.notNull().references('vms.id').onDelete('cascade'))
        .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
        .addColumn('ip', 'text')
        .addColumn('mac', 'text')
        .addPrimaryKeyConstraint('vm_networks_pk', ['vm_id', 'network_id'])
        .execute();
      await db.schema.createIndex('vm_networks_network').on('vm_networks').column('network_id').execute();
      await db.schema
        .createTable('routers')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('routers_ws_name', ['workspace_id', 'name'])
        .execute();
      await db.schema
        .createTable('router_interfaces')
        .addColumn('router_id', 'integer', (c) => c.notNull().references('routers.id').onDelete('cascade'))
        .addColumn('network_id', 'integer', (c) => c.notNull().references('networks.id'))
        .addColumn('ip', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('router_interfaces_pk', ['router_id', 'network_id'])
        .execute();
    },
  },
  // The controller task that made a record or took an address: an interrupted accept's undo (recorded before
  // the write) removes only what its own task made, and a repeated get_ip answers the same address.
  '002_created_by_task': {
    async up(db: Kysely<unknown>) {
      for (const table of ['vms', 'networks', 'routers', 'ip_leases'])
        await db.schema.alterTable(table).addColumn('task', 'text').execute();
      await db.schema.createIndex('ip_leases_task').on('ip_leases').column('task').execute();
    },
  },
  // Failed logins, shared by every inventory instance (ratelimit.ts).
  '003_login_failures': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('login_failures')
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('failed_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('login_failures_key')
        .on('login_failures')
        .columns(['key', 'failed_at'])
        .execute();
      await db.schema.createIndex('login_failures_at').on('login_failures').column('failed_at').execute();
    },
  },
  // A VM's own size (issue 15, resize): the template's at create, its own after a resize.
  '004_vm_size': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('vms').addColumn('cpu', 'integer').execute();
      await db.schema.alterTable('vms').addColumn('ram', 'double precision').execute();
      await sql`UPDATE vms SET cpu = templates.cpu, ram = templates.ram FROM templates
        WHERE templates.id = vms.template_id`.execute(db);
      await db.schema
        .alterTable('vms')
        .alterColumn('cpu', (c) => c.setNotNull())
        .execute();
      await db.schema
        .alterTable('vms')
        .alterColumn('ram', (c) => c.setNotNull())
        .execute();
    },
  },
  // Security groups (issue 17): each workspace's named rule sets, and the groups each VM's NICs belong to. Every
  // workspace gets its `default` group (all egress, ingress from its own members); existing VMs join it.
  '005_security_groups': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('security_groups')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('rules', 'jsonb', (c) => c.notNull())
        .addColumn('task', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('security_groups_ws_name', ['workspace_id', 'name'])
        .execute();
      await db.schema
        .alterTable('vms')
        .addColumn('security_groups', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .execute();
      await sql`insert into security_groups (workspace_id, name, description, rules)
        select id, ${DEFAULT_GROUP}, ${DEFAULT_DESCRIPTION},
          ${JSON.stringify(DEFAULT_RULES)}::jsonb from workspaces`.execute(db);
      await sql`update vms set security_groups = ${JSON.stringify([DEFAULT_GROUP])}::jsonb`.execute(db);
    },
  },
};
