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
  // What each workspace uses, kept as counters (services/quotas.ts). A create's share is taken at its commit:
  // its journal row (accepts.share) names it, and a deferred trigger adds it with one conditional UPDATE, so
  // the counter row that serializes one workspace's creates is locked only while the commit runs (locking the
  // workspace and counting its records held it across the whole accept: issue 16). Triggers keep the counters
  // equal to the records on every other path (deletes, undos, cascades, direct writes); an accept that takes
  // its share through its journal row sets kloudak.share_taken for its transaction, and they stand aside.
  '019_quota_usage': {
    async up(db: Kysely<unknown>) {
      await sql`CREATE TABLE quota_usage (
        workspace_id integer PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
        vms bigint NOT NULL DEFAULT 0,
        vcpus bigint NOT NULL DEFAULT 0,
        ram numeric NOT NULL DEFAULT 0,
        disk numeric NOT NULL DEFAULT 0,
        networks bigint NOT NULL DEFAULT 0,
        routers bigint NOT NULL DEFAULT 0
      )`.execute(db);
      // Public addresses (VMs) per workspace and area, for the per-area ceiling.
      await sql`CREATE TABLE area_usage (
        workspace_id integer NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        area_id integer NOT NULL,
        vms bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (workspace_id, area_id)
      )`.execute(db);
      await sql`INSERT INTO quota_usage (workspace_id, vms, vcpus, ram, disk, networks, routers)
        SELECT w.id,
          (SELECT count(*) FROM vms WHERE workspace_id = w.id),
          (SELECT coalesce(sum(cpu), 0) FROM vms WHERE workspace_id = w.id),
          (SELECT coalesce(sum(ram::numeric), 0) FROM vms WHERE workspace_id = w.id),
          (SELECT coalesce(sum(t.disk::numeric), 0) FROM vms v JOIN templates t ON t.id = v.template_id
            WHERE v.workspace_id = w.id),
          (SELECT count(*) FROM networks WHERE workspace_id = w.id),
          (SELECT count(*) FROM routers WHERE workspace_id = w.id)
        FROM workspaces w`.execute(db);
      await sql`INSERT INTO area_usage (workspace_id, area_id, vms)
        SELECT workspace_id, area_id, count(*) FROM vms GROUP BY workspace_id, area_id`.execute(db);
      await sql`CREATE FUNCTION quota_usage_workspace() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO quota_usage (workspace_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
          RETURN NULL;
        END $$`.execute(db);
      await sql`CREATE TRIGGER quota_usage_workspace AFTER INSERT ON workspaces
        FOR EACH ROW EXECUTE FUNCTION quota_usage_workspace()`.execute(db);
      // A VM counts once, with its size and its template's disk, in its workspace and its area.
      await sql`CREATE FUNCTION quota_usage_vms() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF current_setting('kloudak.share_taken', true) = 'on' THEN RETURN NULL; END IF;
          IF TG_OP <> 'INSERT' THEN
            UPDATE quota_usage SET vms = vms - 1, vcpus = vcpus - OLD.cpu, ram = ram - OLD.ram::numeric,
              disk = disk - coalesce((SELECT disk FROM templates WHERE id = OLD.template_id), 0)::numeric
              WHERE workspace_id = OLD.workspace_id;
            UPDATE area_usage SET vms = vms - 1 WHERE workspace_id = OLD.workspace_id AND area_id = OLD.area_id;
          END IF;
          IF TG_OP <> 'DELETE' THEN
            INSERT INTO quota_usage AS u (workspace_id, vms, vcpus, ram, disk)
              VALUES (NEW.workspace_id, 1, NEW.cpu, NEW.ram::numeric,
                coalesce((SELECT disk FROM templates WHERE id = NEW.template_id), 0)::numeric)
              ON CONFLICT (workspace_id) DO UPDATE SET vms = u.vms + 1, vcpus = u.vcpus + EXCLUDED.vcpus,
                ram = u.ram + EXCLUDED.ram, disk = u.disk + EXCLUDED.disk;
            INSERT INTO area_usage AS a (workspace_id, area_id, vms) VALUES (NEW.workspace_id, NEW.area_id, 1)
              ON CONFLICT (workspace_id, area_id) DO UPDATE SET vms = a.vms + 1;
          END IF;
          RETURN NULL;
        END $$`.execute(db);
      await sql`CREATE TRIGGER quota_usage_vms
        AFTER INSERT OR DELETE OR UPDATE OF workspace_id, area_id, template_id, cpu, ram ON vms
        FOR EACH ROW EXECUTE FUNCTION quota_usage_vms()`.execute(db);
      for (const table of ['networks', 'routers'] as const) {
        await sql`CREATE FUNCTION ${sql.raw(`quota_usage_${table}`)}() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF current_setting('kloudak.share_taken', true) = 'on' THEN RETURN NULL; END IF;
            IF TG_OP <> 'INSERT' THEN
              UPDATE quota_usage SET ${sql.raw(table)} = ${sql.raw(table)} - 1 WHERE workspace_id = OLD.workspace_id;
            END IF;
            IF TG_OP <> 'DELETE' THEN
              INSERT INTO quota_usage AS u (workspace_id, ${sql.raw(table)}) VALUES (NEW.workspace_id, 1)
                ON CONFLICT (workspace_id) DO UPDATE SET ${sql.raw(table)} = u.${sql.raw(table)} + 1;
            END IF;
            RETURN NULL;
          END $$`.execute(db);
        await sql`CREATE TRIGGER ${sql.raw(`quota_usage_${table}`)}
          AFTER INSERT OR DELETE OR UPDATE OF workspace_id ON ${sql.raw(table)}
          FOR EACH ROW EXECUTE FUNCTION ${sql.raw(`quota_usage_${table}`)}()`.execute(db);
      }
      // The share an accept takes, checked and added at its commit (refused: SQLSTATE KQ001, the commit fails).
      await sql`ALTER TABLE accepts ADD COLUMN share jsonb`.execute(db);
      await sql`CREATE FUNCTION accepts_take_share() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          d jsonb := NEW.share->'delta';
          l jsonb := NEW.share->'limit';
          a jsonb := NEW.share->'area';
        BEGIN
          UPDATE quota_usage SET
            vms = vms + (d->>'vms')::bigint, vcpus = vcpus + (d->>'vcpus')::bigint,
            ram = ram + (d->>'ram')::numeric, disk = disk + (d->>'disk')::numeric,
            networks = networks + (d->>'networks')::bigint, routers = routers + (d->>'routers')::bigint
          WHERE workspace_id = NEW.workspace_id
            AND ((d->>'vms')::numeric <= 0 OR vms + (d->>'vms')::numeric <= (l->>'vms')::numeric)
            AND ((d->>'vcpus')::numeric <= 0 OR vcpus + (d->>'vcpus')::numeric <= (l->>'vcpus')::numeric)
            AND ((d->>'ram')::numeric <= 0 OR ram + (d->>'ram')::numeric <= (l->>'ram')::numeric)
            AND ((d->>'disk')::numeric <= 0 OR disk + (d->>'disk')::numeric <= (l->>'disk')::numeric)
            AND ((d->>'networks')::numeric <= 0
              OR networks + (d->>'networks')::numeric <= (l->>'networks')::numeric)
            AND ((d->>'routers')::numeric <= 0
              OR routers + (d->>'routers')::numeric <= (l->>'routers')::numeric)
            AND (NEW.share->'vlans' IS NULL OR networks + 1 <= (NEW.share->>'vlans')::numeric);
          IF NOT FOUND THEN
            RAISE EXCEPTION 'quota exceeded' USING ERRCODE = 'KQ001';
          END IF;
          IF a IS NOT NULL THEN
            INSERT INTO area_usage AS u (workspace_id, area_id, vms)
              SELECT NEW.workspace_id, (a->>'id')::int, 1 WHERE 1 <= (a->>'limit')::numeric
              ON CONFLICT (workspace_id, area_id) DO UPDATE SET vms = u.vms + 1
                WHERE u.vms + 1 <= (a->>'limit')::numeric;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'quota exceeded' USING ERRCODE = 'KQ001';
            END IF;
          END IF;
          RETURN NULL;
        END $$`.execute(db);
      await sql`CREATE CONSTRAINT TRIGGER accepts_take_share AFTER INSERT ON accepts
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.share IS NOT NULL)
        EXECUTE FUNCTION accepts_take_share()`.execute(db);
      // A template's new disk size changes the disk every workspace holds in its VMs.
      await sql`CREATE FUNCTION quota_usage_templates() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE quota_usage u SET disk = u.disk + (NEW.disk::numeric - OLD.disk::numeric) * c.n
            FROM (SELECT workspace_id, count(*) AS n FROM vms WHERE template_id = NEW.id GROUP BY workspace_id) c
            WHERE u.workspace_id = c.workspace_id;
          RETURN NULL;
        END $$`.execute(db);
      await sql`CREATE TRIGGER quota_usage_templates AFTER UPDATE OF disk ON templates
        FOR EACH ROW WHEN (OLD.disk IS DISTINCT FROM NEW.disk) EXECUTE FUNCTION quota_usage_templates()`.execute(
        db,
      );
    },
  },
  // The operators' hosts page reads a host's VMs (GET /hosts/<name>/vms/).
  '020_vms_host': {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('vms_host').on('vms').column('host').execute();
    },
  },
};
