// Fair shares: a workspace's quotas (defaults in the configuration, changed per workspace by an admin) and the
// per-area ceilings no admin override lifts (VLANs and public addresses one workspace may hold in an area).
// A create checks them in its accept transaction, after locking the workspace's row: two creates of one
// workspace cannot both take its last unit. Use is counted from the records themselves, so it is right after
// a delete and after an undone (rolled-back) create without any counter to keep.
import { requireAdmin, type Principal } from '../../lib/auth.ts';
import type { Config } from '../../lib/config.ts';
import type { QuotaBody, WorkspaceQuotas } from '../../lib/contracts/inventory.ts';
import { overQuota } from '../../lib/errors.ts';
import { QUOTA_NAMES, type Figures } from '../repositories/quotas.ts';
import type { Repositories, Store } from '../repositories/index.ts';
import { requireMember } from './access.ts';

export interface Limits {
  /** Each workspace's quotas unless an admin set its own. */
  defaults: Figures;
  /** Per workspace and area. */
  area: { vlans: number; publicIps: number };
}

export type LimitsConfig = Pick<
  Config,
  | 'QUOTA_VMS'
  | 'QUOTA_VCPUS'
  | 'QUOTA_RAM'
  | 'QUOTA_DISK'
  | 'QUOTA_NETWORKS'
  | 'QUOTA_ROUTERS'
  | 'QUOTA_SNAPSHOTS'
  | 'AREA_MAX_VLANS'
  | 'AREA_MAX_PUBLIC_IPS'
>;

export const limitsOf = (c: LimitsConfig): Limits => ({
  defaults: {
    vms: c.QUOTA_VMS,
    vcpus: c.QUOTA_VCPUS,
    ram: c.QUOTA_RAM,
    disk: c.QUOTA_DISK,
    networks: c.QUOTA_NETWORKS,
    routers: c.QUOTA_ROUTERS,
    snapshots: c.QUOTA_SNAPSHOTS,
  },
  area: { vlans: c.AREA_MAX_VLANS, publicIps: c.AREA_MAX_PUBLIC_IPS },
});

type Tx = Pick<Repositories, 'quotas'>;

async function limitsFor(tx: Tx, limits: Limits, workspaceId: number): Promise<Figures> {
  const own = await tx.quotas.overrides(workspaceId);
  const out = { ...limits.defaults };
  if (own) for (const q of QUOTA_NAMES) out[q] = own[q] ?? out[q];
  return out;
}

/** What a create takes: how much of each quota, and of its area's ceilings. */
export interface Need {
  quotas: Partial<Figures>;
  /** A VM's public address in this area. */
  publicIpIn?: number;
  /** A network's VLAN (unique in the deployment, so held in every area). */
  vlan?: boolean;
}

/**
 * Locks the workspace's share and refuses (403 naming the quota, its limit and its use) a create that would
 * pass one. Call first in the accept's transaction, before its writes: the lock holds to the commit.
 */
export async function takeShare(tx: Tx, limits: Limits, workspaceId: number, need: Need) {
  await tx.quotas.lockWorkspace(workspaceId);
  const limit = await limitsFor(tx, limits, workspaceId);
  const used = await tx.quotas.used(workspaceId);
  for (const q of QUOTA_NAMES) {
    const n = need.quotas[q];
    if (n !== undefined && used[q] + n > limit[q])
      throw overQuota({ quota: q, limit: limit[q], used: used[q] });
  }
  if (need.vlan && used.networks + 1 > limits.area.vlans)
    throw overQuota(
      { quota: 'area_vlans', limit: limits.area.vlans, used: used.networks },
      `per-area limit area_vlans exceeded: a workspace holds at most ${limits.area.vlans} VLANs (networks) per area; it holds ${used.networks}`,
    );
  if (need.publicIpIn !== undefined) {
    const held = await tx.quotas.addressesIn(workspaceId, need.publicIpIn);
    if (held + 1 > limits.area.publicIps)
      throw overQuota(
        { quota: 'area_public_ips', limit: limits.area.publicIps, used: held },
        `per-area limit area_public_ips exceeded: a workspace holds at most ${limits.area.publicIps} public addresses (VMs) in this area; it holds ${held}`,
      );
  }
}

export function quotasService(store: Store, limits: Limits) {
  async function view(tx: Repositories, ws: string, workspaceId: number): Promise<WorkspaceQuotas> {
    const own = await tx.quotas.overrides(workspaceId);
    const used = await tx.quotas.used(workspaceId);
    const areas = await tx.quotas.addressesByArea(workspaceId);
    return {
      workspace: ws,
      limits: await limitsFor(tx, limits, workspaceId),
      used,
      custom: own ? QUOTA_NAMES.filter((q) => own[q] !== null) : [],
      areas: areas.map((a) => ({
        area: a.area,
        vlans: { limit: limits.area.vlans, used: used.networks },
        public_ips: { limit: limits.area.publicIps, used: a.used },
      })),
    };
  }
  return {
    /** Members see their workspace's limits and use. */
    async get(p: Principal, ws: string) {
      const m = await requireMember(store, p, ws);
      return view(store, ws, m.workspaceId);
    },
    /** Admins change a workspace's limits (below its use too: what exists stays, new creates are refused). */
    async set(p: Principal, ws: string, body: QuotaBody) {
      requireAdmin(p);
      const m = await requireMember(store, p, ws);
      return store.transaction(async (tx) => {
        await tx.quotas.set(m.workspaceId, body);
        return view(tx, ws, m.workspaceId);
      });
    },
  };
}
export type QuotasService = ReturnType<typeof quotasService>;
