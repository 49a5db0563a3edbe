import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely';

export const controllerMigrations: Record<string, Migration> = {
  '001_tasks_outbox': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('object', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stage', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('retries_left', 'integer', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('deliveries', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('body', 'jsonb', (c) => c.notNull())
        .addColumn('previous', 'jsonb')
        .addColumn('error', 'text')
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('finished_at', 'timestamptz')
        .execute();
      await db.schema
        .createIndex('tasks_ws_created')
        .on('tasks')
        .columns(['workspace', 'created_at'])
        .execute();
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
        .addColumn('queue', 'text', (c) => c.notNull())
        .addColumn('body', 'jsonb', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('not_before', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('published_at', 'timestamptz')
        .execute();
      await db.schema
        .createIndex('outbox_unpublished')
        .on('outbox')
        .columns(['published_at', 'not_before'])
        .execute();
    },
  },
  '002_accepting': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('undos', 'jsonb').execute();
    },
  },
  '003_unfinished_index': {
    // Metrics and the accept sweeper look only at unfinished tasks, a handful among all the finished ones.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex('tasks_unfinished')
        .on('tasks')
        .columns(['status', 'created_at'])
        .where(sql.ref('finished_at'), 'is', null)
        .execute();
    },
  },
  // Tasks belong to a workspace by id (issue 14.5): a renamed workspace keeps them, one re-made under an
  // old name never sees them.
  '004_workspace_id': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('workspace_id', 'integer').execute();
      await db.schema
        .createIndex('tasks_wsid_created')
        .on('tasks')
        .columns(['workspace_id', 'created_at'])
        .execute();
    },
  },
  '005_no_secrets_at_rest': {
    // Rows written before sealing: ended tasks and published messages keep no guest password or commands.
    async up(db: Kysely<unknown>) {
      const drop = sql`body - array['sealed', 'password', 'runcmd', 'user_data']`;
      await sql`update tasks set body = ${drop} where finished_at is not null`.execute(db);
      await sql`update outbox set body = ${drop} where published_at is not null`.execute(db);
    },
  },
  // What a task did that was not what was asked (issue 18: an anti-affinity group it could not honour).
  '009_task_warning': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('tasks').addColumn('warning', 'text').execute();
    },
  },
  // Which task key this database's secrets are sealed with (seal.ts keyCheck): a controller with another key
  // refuses to start instead of failing every task that carries a password.
  '010_task_key_check': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('controller_settings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
