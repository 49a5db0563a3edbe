// Inventory's repositories: every query of the service, by table (Kysely), and nothing else: no access
// checks, no rules, no HTTP. Services take them bound to the database, or to one transaction.
import type { Kysely } from 'kysely';
import type { InventoryDB } from '../schema.ts';
import { authChangesRepository } from './auth.ts';
import { acceptsRepository } from './accepts.ts';
import { areasRepository, hostsRepository, poolsRepository, templatesRepository } from './catalogue.ts';
import { sessionsRepository, throttleRepository, usersRepository } from './identity.ts';
import { sshKeysRepository } from './keys.ts';
import { leasesRepository } from './leases.ts';
import { interfacesRepository, networksRepository, routersRepository } from './networks.ts';
import { securityGroupsRepository } from './secgroups.ts';
import { snapshotsRepository } from './snapshots.ts';
import { quotasRepository } from './quotas.ts';
import { vmsRepository } from './vms.ts';
import { invitationsRepository, membersRepository, workspacesRepository } from './workspaces.ts';

/** The database, or a transaction of it. */
export type Db = Kysely<InventoryDB>;

/** One page of a list: at most `limit` items after `marker` (the last name of the previous page). */
export interface Page {
  limit: number;
  marker?: string;
}

function repositories(db: Db) {
  return {
    users: usersRepository(db),
    sessions: sessionsRepository(db),
    throttle: throttleRepository(db),
    authChanges: authChangesRepository(db),
    workspaces: workspacesRepository(db),
    members: membersRepository(db),
    invitations: invitationsRepository(db),
    templates: templatesRepository(db),
    areas: areasRepository(db),
    hosts: hostsRepository(db),
    pools: poolsRepository(db),
    leases: leasesRepository(db),
    vms: vmsRepository(db),
    networks: networksRepository(db),
    routers: routersRepository(db),
    interfaces: interfacesRepository(db),
    sshKeys: sshKeysRepository(db),
    securityGroups: securityGroupsRepository(db),
    snapshots: snapshotsRepository(db),
    accepts: acceptsRepository(db),
    quotas: quotasRepository(db),
  };
}
export type Repositories = ReturnType<typeof repositories>;

export interface Store extends Repositories {
  /** Runs fn with the repositories bound to one transaction: all of it commits, or none. */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T>;
  /** A cheap query: is the database there (/healthz). */
  ping(): Promise<void>;
}

export function createStore(db: Db): Store {
  return {
    ...repositories(db),
    transaction: (fn) => db.transaction().execute((tx) => fn(repositories(tx))),
    ping: async () => void (await db.selectFrom('workspaces').select('id').limit(1).execute()),
  };
}
