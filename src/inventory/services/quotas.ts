// Fair shares: a workspace's quotas (defaults in the configuration, changed per workspace by an admin) and the
// per-area ceilings no admin override lifts (VLANs and public addresses one workspace may hold in an area).
// A create takes its share at its accept's commit: its journal row names the share, and a deferred trigger
// (migration 019) adds it to the workspace's usage counters with one conditional UPDATE, which waits for a
// concurrent take to commit and checks the committed figures, so two creates of one workspace cannot both take
// its last unit, and the row stays locked only while the commit runs (locking the workspace first and counting its records held one workspace's
// creates in a queue for their whole transactions: 0.05 of the bare baseline, issue 16). Triggers keep the
// counters equal to the records on every other path (deletes, undos, cascades). The views count the records.
import { requireAdmin, type Principal } from '../../lib/auth.ts';
import type { Config } from '../../lib/config.ts';
import type { QuotaBody, WorkspaceQuotas } from '../../lib/contracts/inventory.ts';
import { overQuota } from '../../lib/errors.ts';
import { QUOTA_NAMES, type Figures, type Overrides, type Take } from '../repositories/quotas.ts';
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
  return merged(limits, await tx.quotas.overrides(workspaceId));
}

function merged(limits: Limits, own: Partial<Overrides> | undefined): Figures {
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
 * Before an accept's writes: the usage triggers stand aside for its transaction (its share counts its writes),
 * and its limits are read (an admin's change racing a create applies from the next one).
 */
export async function prepareShare(tx: Tx, limits: Limits, workspaceId: number) {
  return merged(limits, await tx.quotas.standAside(workspaceId));
}

/** What an accept's journal row carries (accepts.share) for its commit to take `need`. */
export function shareOf(limits: Limits, limit: Figures, need: Need): Take {
  const q = need.quotas;
  const { snapshots: _, ...counted } = limit;
  return {
    delta: {
      vms: q.vms ?? 0,
      vcpus: q.vcpus ?? 0,
      ram: q.ram ?? 0,
      disk: q.disk ?? 0,
      networks: q.networks ?? 0,
      routers: q.routers ?? 0,
    },
    limit: counted,
    ...(need.vlan ? { vlans: limits.area.vlans } : {}),
    ...(need.publicIpIn !== undefined ? { area: { id: need.publicIpIn, limit: limits.area.publicIps } } : {}),
  };
}

/** The commit refused the share (SQLSTATE KQ001 from the accepts_take_share trigger). */
export const isShareRefused = (e: unknown) => (e as { code?: string } | undefined)?.code === 'KQ001';

/**
 * The 403 for a refused share, naming the quota, its limit and the workspace's use (read after the refusal).
 * When a delete has made room since, it names the first quota the create grows; the client may retry.
 */
export async function refusedShare(
  store: Tx,
  limits: Limits,
  limit: Figures,
  workspaceId: number,
  need: Need,
) {
  const { used, inArea } = await store.quotas.counted(workspaceId, need.publicIpIn);
  return (
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
