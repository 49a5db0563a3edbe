// The Inventory service: identity provider and catalogue of every object (DESIGN "Services").
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import cookie from '@fastify/cookie';
import type { FastifyRequest } from 'fastify';
import { authenticate, createTokenSigner, createTokenVerifier, type Principal } from '../lib/auth.ts';
import { createAuthority } from '../lib/authority.ts';
import type { Config } from '../lib/config.ts';
import { HOST_TASKS } from '../lib/contracts/common.ts';
import { openDatabase, type Database } from '../lib/db.ts';
import { createApp, type App } from '../lib/http.ts';
import type { Logger } from '../lib/log.ts';
import { serviceSecret } from '../lib/secrets.ts';
import { loadOrCreateSigningKey } from './keys.ts';
import { inventoryMigrations } from './migrations.ts';
import { createThrottle } from './ratelimit.ts';
import { createStore } from './repositories/index.ts';
import { authRoutes } from './routes/auth.ts';
import { acceptRoutes } from './routes/accepts.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { identityRoutes } from './routes/identity.ts';
import { keyRoutes } from './routes/keys.ts';
import { networkRoutes } from './routes/networks.ts';
import { securityGroupRoutes } from './routes/secgroups.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { vmRoutes } from './routes/vms.ts';
import { workspaceRoutes } from './routes/workspaces.ts';
import type { InventoryDB } from './schema.ts';
import { createInventoryServices } from './services/index.ts';
import { limitsOf } from './services/quotas.ts';

/** The caller of a request, from its token (inventory checks its own tokens with its own key). */
export type Auth = (req: FastifyRequest) => Promise<Principal>;

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
    template: config.PGLITE_TEMPLATE,
    dir: join(config.DATA_DIR, 'inventory', 'db'),
    migrations: inventoryMigrations,
    log,
  });
  try {
    const signingKey = await loadOrCreateSigningKey(
      config.JWT_KEY_FILE ?? join(config.DATA_DIR, 'inventory', 'jwt-ed25519.pem'),
    );
    const store = createStore(database.db);
    // A new signing key: every service empties its verified-token cache and reloads the JWKS.
    if ((await store.authChanges.lastKey()) !== signingKey.kid)
      await store.authChanges.append('keys', [null], signingKey.kid);
    // First path segments of inventory's own routes: a workspace of such a name would be shadowed by them
    // (GET /templates/vms/ is the template "vms"), so those names are refused. The app's own (health,
    // metrics, OpenAPI) are listed; the rest are collected as they are registered. HOST_TASKS names the
    // operators' host tasks and their room (admins only): no workspace may take it.
    const reservedNames = new Set(['healthz', 'metrics', 'openapi.json', HOST_TASKS]);
    const throttling = { windowSeconds: config.LOGIN_WINDOW, baseDelay: config.LOGIN_DELAY };
    const services = createInventoryServices({
      store,
      reservedNames,
      log,
      config,
      limits: limitsOf(config),
      signer: createTokenSigner(signingKey.privateKey, signingKey.kid),
      serviceSecret: serviceSecret(config.SERVICE_SECRET, config.DATA_DIR),
      userThrottle: createThrottle(database.db, { ...throttling, free: config.LOGIN_MAX_FAILURES_PER_USER }),
      addressThrottle: createThrottle(database.db, {
        ...throttling,
        free: config.LOGIN_MAX_FAILURES_PER_ADDRESS,
      }),
      signupThrottle: createThrottle(database.db, { ...throttling, free: config.SIGNUP_MAX_PER_ADDRESS }),
    });
    // Inventory checks its own requests like every service: the token's signature, then the caller's
    // current standing (read from its own database, dropped as the change feed says).
    const authority = createAuthority({
      verifier: createTokenVerifier(createPublicKey(signingKey.privateKey)),
      source: services.auth.source,
      log,
      pollMs: config.AUTH_POLL_INTERVAL * 1000,
    });
    const admin = await services.identity.ensureAdmin();
    if (admin.password) onAdminCreated?.(admin.username, admin.password);

    const app = await createApp({
      service: 'inventory',
      log,
      description: 'Identity provider (signup, login, tokens) and catalogue of every Kloudak object.',
      health: () => store.ping(),
    });
    app.addHook('onRoute', (r) => {
      const first = r.url.split('/')[1];
      if (first && !first.startsWith(':') && !first.startsWith('*')) reservedNames.add(first);
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
    const who: Auth = (req) => authenticate(authority, req.headers);
    identityRoutes(app, services, { sessionTtl: config.SESSION_TTL, signingKey, who });
    authRoutes(app, services, who);
    workspaceRoutes(app, services, who);
    catalogueRoutes(app, services, who);
    vmRoutes(app, services, who);
    networkRoutes(app, services, who);
    keyRoutes(app, services, who);
    securityGroupRoutes(app, services, who);
    snapshotRoutes(app, services, who);
    acceptRoutes(app, services, who);
    await extraRoutes?.(app);
    await app.ready();
    // The accepts journal keeps a task's row for a month: far longer than any accept or undo of it can take.
    const prune = setInterval(
      () =>
        void store.accepts
          .prune(30)
          .catch((e: unknown) => log.warn({ err: e }, 'pruning the accepts journal failed')),
      3600_000,
    );
    prune.unref();
    return {
      app,
      database,
      close: async () => {
        authority.close();
        clearInterval(prune);
        await app.close();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}
