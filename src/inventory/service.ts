// The Inventory service: identity provider and catalogue of every object (DESIGN "Services").
import { createPublicKey, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import { sql } from 'kysely';
import { createTokenSigner, createTokenVerifier } from '../lib/auth.ts';
import type { Config } from '../lib/config.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import { createApp, type App } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { serviceSecret } from '../lib/secrets.ts';
import type { InventoryContext } from './context.ts';
import { loadOrCreateSigningKey } from './keys.ts';
import { inventoryMigrations } from './migrations.ts';
import { hashPassword } from './passwords.ts';
import { createThrottle } from './ratelimit.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { identityRoutes } from './routes/identity.ts';
import { networkRoutes } from './routes/networks.ts';
import { vmRoutes } from './routes/vms.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import type { InventoryDB } from './schema.ts';

export interface Inventory {
  app: App;
  database: Database<InventoryDB>;
  close(): Promise<void>;
}

export interface InventoryOptions {
  config: Config;
  log: Logger;
  /** Called once with the generated admin password when the first admin is made without one configured. */
  onAdminCreated?: (username: string, password: string) => void;
  /** Extra routes on the same port (the dashboard's static files). */
  extraRoutes?: (app: App) => Promise<void> | void;
}

export async function createInventory({
  config,
  log,
  onAdminCreated,
  extraRoutes,
}: InventoryOptions): Promise<Inventory> {
  const database = await openDatabase<InventoryDB>({
    url: config.INVENTORY_DB,
    dir: join(config.DATA_DIR, 'inventory', 'db'),
    migrations: inventoryMigrations,
    log,
  });
  try {
    const signingKey = await loadOrCreateSigningKey(
      config.JWT_KEY_FILE ?? join(config.DATA_DIR, 'inventory', 'jwt-ed25519.pem'),
    );
    const ctx: InventoryContext = {
      db: database.db,
      config,
      log,
      signingKey,
      signer: createTokenSigner(signingKey.privateKey, signingKey.kid),
      // Inventory checks its own tokens with its own key: no JWKS round trip.
      verifier: createTokenVerifier(createPublicKey(signingKey.privateKey)),
      serviceSecret: serviceSecret(config.SERVICE_SECRET, config.DATA_DIR),
      userThrottle: createThrottle(database.db, config.LOGIN_MAX_FAILURES_PER_USER, config.LOGIN_WINDOW),
      addressThrottle: createThrottle(
        database.db,
        config.LOGIN_MAX_FAILURES_PER_ADDRESS,
        config.LOGIN_WINDOW,
      ),
    };
    await ensureAdmin(ctx, onAdminCreated);

    const app = await createApp({
      service: 'inventory',
      log,
      description: 'Identity provider (signup, login, tokens) and catalogue of every Kloudak object.',
      health: async () => void (await sql`select 1`.execute(database.db)),
    });
    await app.register(cookie);
    // The book's dashboard posts login and signup forms.
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    identityRoutes(app, ctx);
    workspaceRoutes(app, ctx);
    catalogueRoutes(app, ctx);
    vmRoutes(app, ctx);
    networkRoutes(app, ctx);
    await extraRoutes?.(app);
    await app.ready();
    return {
      app,
      database,
      close: async () => {
        await app.close();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}

async function ensureAdmin(ctx: InventoryContext, onCreated?: (u: string, p: string) => void): Promise<void> {
  const username = ctx.config.ADMIN_USER;
  const exists = await ctx.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirst();
  if (exists) return;
  const password = ctx.config.ADMIN_PASSWORD ?? randomBytes(12).toString('base64url');
  const inserted = await ctx.db
    .insertInto('users')
    .values({
      username,
      email: `${username}@localhost`,
      password_hash: await hashPassword(password),
      is_admin: true,
    })
    .onConflict((oc) => oc.column('username').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted && !ctx.config.ADMIN_PASSWORD) onCreated?.(username, password);
}
