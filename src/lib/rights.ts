// What each service may do with its service token (issue 14.9): one table, checked wherever a service token
// is honoured (inventory, controller, notification). A service holds only the rights its own work needs, so a
// stolen monitoring token cannot delete a workspace and a compute token cannot change members. Nobody holds
// `catalogue.write` or `workspaces.manage`: operators and members do those with their own tokens.
import type { Principal } from './auth.ts';
import { notAllowed } from './errors.ts';

export const SERVICES = ['controller', 'compute', 'network', 'monitoring', 'notification', 'cli'] as const;
export type ServiceName = (typeof SERVICES)[number];

export type ServiceRight =
  /** Read a user's current standing and the authorization change feed (verifying tokens). */
  | 'standings'
  /** Read areas, templates, hosts and pools. */
  | 'catalogue.read'
  /** Create, change or delete areas, templates, hosts and pools. */
  | 'catalogue.write'
  /** Put a host in or out of maintenance (a drain or restore), nothing else of the host. */
  | 'hosts.maintenance'
  /** Mark a workspace being deleted and remove its records once its teardown emptied it. */
  | 'workspaces.teardown'
  /** Read any workspace's VMs, networks, routers and interfaces. */
  | 'workspaces.read'
  /** Write VM, network, router and interface records. */
  | 'objects.write'
  /** Take and release areas' addresses. */
  | 'addresses'
  /** Manage a workspace itself: its members, its deletion. */
  | 'workspaces.manage'
  /** Send events to workspace rooms. */
  | 'notify'
  /** Submit tasks to the controller's API. */
  | 'tasks';

export const SERVICE_RIGHTS: Record<ServiceName, readonly ServiceRight[]> = {
  // Turns requests into tasks: reads and writes the records, takes addresses, tells the rooms.
  controller: [
    'standings',
    'catalogue.read',
    'workspaces.read',
    'objects.write',
    'addresses',
    'notify',
    'tasks',
    'hosts.maintenance',
    'workspaces.teardown',
  ],
  // Places and runs VMs; failover moves a VM's record to its new host and tells the room.
  compute: ['standings', 'catalogue.read', 'workspaces.read', 'objects.write', 'notify'],
  // Switch ports and routers on hosts; reads the hosts, tells rooms of quarantined ports.
  network: ['standings', 'catalogue.read', 'workspaces.read', 'notify'],
  // Watches hosts and pools; its stats API checks users' tokens.
  // Before reporting a silent host failed, it pings that host's guests: it reads their addresses.
  monitoring: ['standings', 'catalogue.read', 'workspaces.read'],
  // Checks the tokens of those who join rooms.
  notification: ['standings'],
  // Operator scripts: read-only.
  cli: ['standings', 'catalogue.read'],
};

const isServiceName = (s: string | undefined): s is ServiceName =>
  s !== undefined && (SERVICES as readonly string[]).includes(s);

/** Whether a principal is a service holding `right` (a token of an unknown service holds none). */
export function serviceHolds(p: Principal, right: ServiceRight): boolean {
  return p.isService && isServiceName(p.service) && SERVICE_RIGHTS[p.service].includes(right);
}

/** For service principals: 403 unless the service holds `right`. Users pass (their checks are elsewhere). */
export function requireServiceRight(p: Principal, right: ServiceRight): void {
  if (p.isService && !serviceHolds(p, right))
    throw notAllowed(`the ${p.service ?? 'unnamed'} service may not do this (needs ${right})`);
}
