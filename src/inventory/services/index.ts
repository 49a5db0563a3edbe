// Inventory's services: access checks, rules and transactions, over the repositories. Routes call them with
// the caller's principal and the request's validated body; they answer the contract's types.
import type { Logger } from '../../lib/log.ts';
import type { Store } from '../repositories/index.ts';
import { authService } from './auth.ts';
import { acceptsService } from './accepts.ts';
import { allocateIp, releaseIp, releaseTaskIps } from './addresses.ts';
import { catalogueServices } from './catalogue.ts';
import { identityService, type IdentityDeps } from './identity.ts';
import { keysService } from './keys.ts';
import { networksService, routersService } from './networks.ts';
import { securityGroupsService } from './secgroups.ts';
import { snapshotsService } from './snapshots.ts';
import { quotasService, type Limits } from './quotas.ts';
import { vmsService } from './vms.ts';
import { workspacesService } from './workspaces.ts';
import { requireAdmin, type Principal } from '../../lib/auth.ts';

export interface ServicesDeps extends Omit<IdentityDeps, 'repos'> {
  store: Store;
  /** First path segments of inventory's own routes (workspace names they would shadow are refused). */
  reservedNames: ReadonlySet<string>;
  log?: Logger;
  /** Quotas and per-area ceilings (services/quotas.ts), from the configuration. */
  limits: Limits;
}

export function createInventoryServices(d: ServicesDeps) {
  const { store } = d;
  return {
    identity: identityService({ ...d, repos: store }),
    auth: authService(store),
    workspaces: workspacesService(store, d.reservedNames, {
      maxMemberships: d.config.MAX_MEMBERSHIPS,
      maxInvitations: d.config.MAX_INVITATIONS,
    }),
    catalogue: catalogueServices(store),
    addresses: {
      take: (p: Principal, area: string, task?: string) => (
        requireAdmin(p, 'addresses'),
        allocateIp(store, area, task)
      ),
      releaseTask: (p: Principal, area: string, task: string) => (
        requireAdmin(p, 'addresses'),
        releaseTaskIps(store, area, task)
      ),
      release: (p: Principal, area: string, ip: string) => (
        requireAdmin(p, 'addresses'),
        releaseIp(store, area, ip)
      ),
    },
    vms: vmsService(store),
    networks: networksService(store),
    routers: routersService(store),
    keys: keysService(store),
    securityGroups: securityGroupsService(store),
    snapshots: snapshotsService(store, d.limits),
    accepts: acceptsService(store, d.limits, d.log),
    quotas: quotasService(store, d.limits),
  };
}
export type InventoryServices = ReturnType<typeof createInventoryServices>;
