// The undo of one inventory write an accept makes, recorded durably before the write (write-ahead: see
// usecases/accept.ts). Each undo is harmless when its write never happened: it removes only what its own
// task made, or restores the value that is still there.
import { Type, type Static } from 'typebox';
import type { InventoryClient } from '../lib/clients/inventory.ts';
import { NetState, VmState } from '../lib/contracts/common.ts';
import { SgRules } from '../lib/contracts/secgroups.ts';
import { checker } from '../lib/contracts/validate.ts';

const Place = { workspace: Type.String(), name: Type.String() };
export const Undo = Type.Union([
  /** Everything the task's accept wrote in inventory goes (its one call: usecases/accept.ts). */
  Type.Object({ op: Type.Literal('undo_accept'), workspace: Type.String(), task: Type.String() }),
  /** The area addresses the task took that no VM holds go back. */
  Type.Object({ op: Type.Literal('release_addresses'), area: Type.String(), task: Type.String() }),
  /** The record the task made goes (not one another task made under the same name). */
  Type.Object({
    op: Type.Literal('delete'),
    kind: Type.Union([
      Type.Literal('vm'),
      Type.Literal('network'),
      Type.Literal('router'),
      Type.Literal('security_group'),
    ]),
    ...Place,
    task: Type.String(),
  }),
  /** The snapshot record the task made goes. */
  Type.Object({
    op: Type.Literal('delete_snapshot'),
    workspace: Type.String(),
    vm: Type.String(),
    name: Type.String(),
    task: Type.String(),
  }),
  /** A security group's rules and description go back to what they were. */
  Type.Object({
    op: Type.Literal('restore_rules'),
    ...Place,
    rules: SgRules,
    description: Type.String(),
  }),
  /** A VM's security groups go back to what they were. */
  Type.Object({ op: Type.Literal('restore_groups'), ...Place, groups: Type.Array(Type.String()) }),
  /** The record's state goes back to what it was. */
  Type.Object({ op: Type.Literal('restore_state'), kind: Type.Literal('vm'), ...Place, state: VmState }),
  Type.Object({
    op: Type.Literal('restore_state'),
    kind: Type.Union([Type.Literal('network'), Type.Literal('router')]),
    ...Place,
    state: NetState,
  }),
  /** A workspace marked being deleted is in use again. */
  Type.Object({ op: Type.Literal('restore_workspace'), workspace: Type.String() }),
  /** A host's maintenance flag goes back to what it was (a drain or restore that was not accepted). */
  Type.Object({ op: Type.Literal('host_maintenance'), host: Type.String(), maintenance: Type.Boolean() }),
]);
export type Undo = Static<typeof Undo>;
const undos = checker(Undo);

const KIND_OF = { vms: 'vm', networks: 'network', routers: 'router' } as const;

/**
 * An undo as recorded: the typed form, or the inventory call an older controller recorded
 * ({method, path, body}), read into the typed form so an accept it left halfway is still undone.
 */
export function readUndo(recorded: unknown): Undo | undefined {
  if (undos.is(recorded)) return recorded;
  const r = (typeof recorded === 'object' && recorded !== null ? recorded : {}) as Record<string, unknown>;
  if (typeof r.path !== 'string') return undefined;
  const [path, query = ''] = r.path.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const task = new URLSearchParams(query).get('task');
  let u: unknown;
  if (r.method === 'DELETE' && parts.length === 4 && parts[0] === 'address' && parts[2] === 'task')
    u = { op: 'release_addresses', area: parts[1], task: parts[3] };
  else if (parts.length === 3) {
    const place = { kind: KIND_OF[parts[1] as keyof typeof KIND_OF], workspace: parts[0], name: parts[2] };
    if (r.method === 'DELETE' && task) u = { op: 'delete', ...place, task };
    if (r.method === 'PUT')
      u = { op: 'restore_state', ...place, state: (r.body as { state?: unknown })?.state };
  }
  return undos.is(u) ? u : undefined;
}

/** Runs one undo against inventory. */
export async function runUndo(
  inventory: Pick<
    InventoryClient,
    | 'accepts'
    | 'addresses'
    | 'vms'
    | 'networks'
    | 'routers'
    | 'workspaces'
    | 'hosts'
    | 'securityGroups'
    | 'snapshots'
  >,
  u: Undo,
  requestId: string,
): Promise<void> {
  const o = { requestId };
  if (u.op === 'undo_accept') await inventory.accepts.undo(u.workspace, u.task, o);
  else if (u.op === 'release_addresses') await inventory.addresses.releaseTask(u.area, u.task, o);
  else if (u.op === 'restore_workspace') await inventory.workspaces.update(u.workspace, { state: 'U' }, o);
  else if (u.op === 'host_maintenance') await inventory.hosts.setMaintenance(u.host, u.maintenance, o);
  else if (u.op === 'delete_snapshot')
    await inventory.snapshots.remove(u.workspace, u.vm, u.name, { ...o, task: u.task });
  else if (u.op === 'delete') {
    const records =
      u.kind === 'vm'
        ? inventory.vms
        : u.kind === 'network'
          ? inventory.networks
          : u.kind === 'router'
            ? inventory.routers
            : inventory.securityGroups;
    await records.remove(u.workspace, u.name, { ...o, task: u.task });
  } else if (u.op === 'restore_rules')
    await inventory.securityGroups.update(
      u.workspace,
      u.name,
      { rules: u.rules, description: u.description },
      o,
    );
  else if (u.op === 'restore_groups')
    await inventory.vms.update(u.workspace, u.name, { security_groups: u.groups }, o);
  else if (u.kind === 'vm') await inventory.vms.update(u.workspace, u.name, { state: u.state }, o);
  else if (u.kind === 'network') await inventory.networks.update(u.workspace, u.name, { state: u.state }, o);
  else await inventory.routers.update(u.workspace, u.name, { state: u.state }, o);
}
