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
  // A host in maintenance (issue 18): drained of its VMs, skipped by placement, failover and failure checks.
  '011_host_maintenance': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('hosts')
        .addColumn('maintenance', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
  // Users' SSH public keys (POST /keys/), named per user; a VM is created with some of them (ssh_keys).
  '005_ssh_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ssh_keys')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('bits', 'integer', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('comment', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('ssh_keys_user_name', ['user_id', 'name'])
        .execute();
    },
  },
  // The workspace's owner (issue 14.3): its creator, or whom the owner handed it to. The owner holds every
  // permission and is removed only by handing over. Existing workspaces get the member holding the most.
  '006_workspace_owner': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('workspaces')
        .addColumn('owner_id', 'integer', (c) => c.references('users.id'))
        .execute();
      const all = PERMISSIONS.map((p) => `m.${p}::int`).join(' + ');
      await sql`
        update workspaces w set owner_id = (
          select m.user_id from members m where m.workspace_id = w.id
          order by ${sql.raw(all)} desc, m.user_id limit 1)`.execute(db);
      await db.schema.createIndex('workspaces_owner').on('workspaces').column('owner_id').execute();
    },
  },
  // What services need to stop trusting a token within seconds (issue 14.5): a user's token version (raised by
  // a revocation) and whether the account is disabled; and the feed of changes services read to drop what
  // they cached (memberships and flags of a user, revocations, a new signing key).
  '007_auth_changes': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('users')
        .addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();
      await db.schema
        .alterTable('users')
        .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
      await db.schema
        .createTable('auth_changes')
        .addColumn('seq', 'serial', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('user_id', 'integer')
        .addColumn('detail', 'text')
        .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('auth_changes_at').on('auth_changes').column('at').execute();
    },
  },
  // Invitations (issue 14.6): nobody becomes a member without accepting. Kept by the name the inviter typed,
  // whether or not such a user exists, so that inviting tells nothing about which usernames exist.
  '008_invitations': {
    async up(db: Kysely<unknown>) {
      let t = db.schema
        .createTable('invitations')
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('invited_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('invitations_pk', ['workspace_id', 'username']);
      for (const p of PERMISSIONS) t = t.addColumn(p, 'boolean', (c) => c.notNull().defaultTo(false));
      await t.execute();
      await db.schema.createIndex('invitations_user').on('invitations').column('username').execute();
    },
  },
  // A workspace being deleted (issue 14.4): the controller's teardown task marks it `X`, and inventory takes
  // no new object in it; `U` otherwise.
  '009_workspace_state': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('workspaces')
        .addColumn('state', 'text', (c) => c.notNull().defaultTo('U'))
        .execute();
    },
  },
  // Throttling counts each attempt before the password is checked (issue 14.7): one row per key with its
  // count and when the next attempt may come, taken in one statement (ratelimit.ts). The failures table goes.
  '010_login_throttle': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('login_throttle')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('login_throttle_last').on('login_throttle').column('last_at').execute();
      await db.schema.dropTable('login_failures').execute();
    },
  },
  // Security groups (issue 17): each workspace's named rule sets, and the groups each VM's NICs belong to. Every
  // workspace gets its `default` group (all egress, ingress from its own members); existing VMs join it.
  '012_security_groups': {
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
  // Anti-affinity groups (issue 18 item 3): a VM names at most one group of its workspace; the group is the set
  // of VMs naming it, so it cannot hold another workspace's VM and goes when its last VM does.
  '018_affinity_groups': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('vms').addColumn('affinity_group', 'text').execute();
      await db.schema
        .createIndex('vms_affinity_group')
        .on('vms')
        .columns(['workspace_id', 'affinity_group'])
        .execute();
    },
  },
  // VM snapshots (issue 15 item 5): what exists of each VM; the data lives in the VM's disk on the pool.
  '016_vm_snapshots': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('vm_snapshots')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('vm_id', 'integer', (c) => c.notNull().references('vms.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('running', 'boolean')
        .addColumn('task', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('vm_snapshots_vm_name', ['vm_id', 'name'])
        .execute();
    },
  },
  // The journal of the controller's accepts (services/accepts.ts): per task, what its accept answered and how to
  // undo what it wrote; an undone task's row stays as a tombstone, so a late write of that task is refused.
  // And the index NIC addresses are found by.
  '013_accepts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('accepts')
        .addColumn('task', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'integer', (c) =>
          c.notNull().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('op', 'text', (c) => c.notNull())
        .addColumn('undone', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('answer', 'jsonb')
        .addColumn('undo', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema.createIndex('accepts_created').on('accepts').column('created_at').execute();
      // A NIC address is looked up by network and address (addresses.linkNic); stored as address/prefix.
      await sql`CREATE INDEX vm_networks_address ON vm_networks (network_id, split_part(ip, '/', 1))`.execute(
        db,
      );
    },
  },
  // Workspace quotas an admin set (services/quotas.ts); a null column is the configured default.
  '014_quotas': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('quotas')
        .addColumn('workspace_id', 'integer', (c) =>
          c.primaryKey().references('workspaces.id').onDelete('cascade'),
        )
        .addColumn('vms', 'integer')
        .addColumn('vcpus', 'integer')
        .addColumn('ram', 'double precision')
        .addColumn('disk', 'double precision')
        .addColumn('networks', 'integer')
        .addColumn('routers', 'integer')
        .addColumn('snapshots', 'integer')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
  },
};
