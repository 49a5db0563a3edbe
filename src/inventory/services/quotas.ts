// Fair shares: a workspace's quotas (defaults in the configuration, changed per workspace by an admin) and the
// per-area ceilings no admin override lifts (VLANs and public addresses one workspace may hold in an area).
// A create takes its share as the last statement of its accept transaction: one conditional UPDATE of the
// workspace's usage counters (migration 019), which waits for a concurrent take to commit and checks the
// committed figures, so two creates of one workspace cannot both take its last unit, and the row stays locked
// only from there to the commit (locking the workspace first and counting its records held one workspace's
// creates in a queue for their whole transactions: 0.05 of the bare baseline, issue 16). Triggers keep the
// counters equal to the records on every other path (deletes, undos, cascades). The views count the records.
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

/** The quota refused: the first one a take of `need` would pass, with what the workspace holds. */
function refusal(
  limit: Figures,
  limits: Limits,
  need: Need,
  used: Omit<Figures, 'snapshots'>,
  inArea: number,
) {
  for (const q of QUOTA_NAMES) {
    if (q === 'snapshots') continue;
    const n = need.quotas[q];
    if (n !== undefined && n > 0 && used[q] + n > limit[q])
      return overQuota({ quota: q, limit: limit[q], used: used[q] });
  }
  if (need.vlan && used.networks + 1 > limits.area.vlans)
    return overQuota(
      { quota: 'area_vlans', limit: limits.area.vlans, used: used.networks },
      `per-area limit area_vlans exceeded: a workspace holds at most ${limits.area.vlans} VLANs (networks) per area; it holds ${used.networks}`,
    );
  if (need.publicIpIn !== undefined && inArea + 1 > limits.area.publicIps)
    return overQuota(
      { quota: 'area_public_ips', limit: limits.area.publicIps, used: inArea },
      `per-area limit area_public_ips exceeded: a workspace holds at most ${limits.area.publicIps} public addresses (VMs) in this area; it holds ${inArea}`,
    );
  return undefined;
}

/**
 * Before an accept's writes: the usage triggers stand aside for its transaction (takeShare counts its writes),
 * and its limits are read (an admin's change racing a create applies from the next one).
 */
export async function prepareShare(tx: Tx, limits: Limits, workspaceId: number) {
  await tx.quotas.standAside();
  return limitsFor(tx, limits, workspaceId);
}

/**
 * Takes the share `need` of the workspace's counted quotas and ceilings, or refuses (403 naming the quota, its
 * limit and its use). The last statement of the accept's transaction, after prepareShare and its writes: the
 * counter row it locks is held only to the commit. A negative figure (a shrink) gives back and always passes.
 */
export async function takeShare(tx: Tx, limits: Limits, limit: Figures, workspaceId: number, need: Need) {
  const q = need.quotas;
  const taken = await tx.quotas.take(workspaceId, {
    delta: {
      vms: q.vms ?? 0,
      vcpus: q.vcpus ?? 0,
      ram: q.ram ?? 0,
      disk: q.disk ?? 0,
      networks: q.networks ?? 0,
      routers: q.routers ?? 0,
    },
    limit,
    ...(need.vlan ? { vlans: limits.area.vlans } : {}),
    ...(need.publicIpIn !== undefined ? { area: { id: need.publicIpIn, limit: limits.area.publicIps } } : {}),
  });
  if (taken) return;
  const { used, inArea } = await tx.quotas.counted(workspaceId, need.publicIpIn);
  // Nothing over by the time of this read (a delete committed since): refused all the same, named by the
  // first quota the create grows; the client may retry.
  throw (
    refusal(limit, limits, need, used, inArea) ??
    overQuota({ quota: 'vms', limit: limit.vms, used: used.vms }, 'quota exceeded; try again')
  );
}

/**
 * The snapshot quota: locks the workspace's row and counts its snapshots (few, and not counted by triggers: a
 * snapshot's workspace is its VM's), refusing one past the limit. Call first in the snapshot's transaction.
 */
export async function takeSnapshotShare(tx: Tx, limits: Limits, workspaceId: number) {
  await tx.quotas.lockWorkspace(workspaceId);
  const limit = await limitsFor(tx, limits, workspaceId);
  const used = await tx.quotas.snapshots(workspaceId);
  if (used + 1 > limit.snapshots) throw overQuota({ quota: 'snapshots', limit: limit.snapshots, used });
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
