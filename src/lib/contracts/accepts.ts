// Inventory's accept API: what the controller asks of inventory when it accepts a request, in one call.
// `PUT /<ws>/accepts/<op>/<task>/` checks everything the request needs (the workspace, the name, what it
// refers to), makes its writes in one transaction tagged with the task (a record, an address, a state), and
// answers what the task's message needs. Asking again for the same task answers the same (the client may
// retry). `DELETE /<ws>/accepts/<task>/` undoes what that task's accept wrote, and only that: harmless when it
// wrote nothing, and once undone the task can no longer write (an accept still in flight is refused).
//
// A new kind of request is one entry in ACCEPT_OPS (its body and answer), one handler in
// src/inventory/services/accept-ops.ts, and its use case in src/controller/usecases/ calling accept() with it.
import { Type, type Static } from 'typebox';
import { AffinityGroupName, Cpu, Ip, Name, Nullable, Ram, TaskId, Text } from './common.ts';
import { Network, Router, RouterInterface, Template, Vm } from './inventory.ts';
import { GroupNames } from './secgroups.ts';

export const AcceptParams = Type.Object({ ws: Name('workspace'), task: TaskId });

/** The area a VM takes its address from. */
export const AreaRef = Type.Object({ name: Type.String(), subnet: Type.String(), gateway: Type.String() });
/** A network as a task needs it: its VLAN (once the network service gave one) and subnet. */
export const NetworkRef = Type.Object({
  name: Type.String(),
  vlan: Nullable(Type.Integer()),
  subnet: Nullable(Type.String()),
});
const NetworkNames = Type.Array(Name('network'), { maxItems: 16, uniqueItems: true });

/** Every accept, by the op in its path: what it is asked and what it answers. */
export const ACCEPT_OPS = {
  /**
   * A VM record in state C_D with an address of its area and one on each network with a subnet, in its
   * security groups, of its template's size; within the workspace's quotas and the area's ceilings.
   */
  'vm-create': {
    body: Type.Object({
      name: Name(),
      description: Type.Optional(Text(1024)),
      area: Name('area'),
      template: Name('template'),
      networks: Type.Optional(NetworkNames),
      security_groups: Type.Optional(GroupNames),
      affinity_group: Type.Optional(AffinityGroupName),
    }),
    answer: Type.Object({ vm: Vm, template: Template, area: AreaRef, networks: Type.Array(NetworkRef) }),
  },
  /**
   * Checks the VM, a new name and the networks (written when the task succeeds); writes the security groups
   * and a new size (within the workspace's quotas) now. The answer's VM is the record as it was.
   */
  'vm-update': {
    body: Type.Object({
      name: Name(),
      rename: Type.Optional(Name()),
      networks: Type.Optional(NetworkNames),
      security_groups: Type.Optional(GroupNames),
      cpu: Type.Optional(Cpu),
      ram: Type.Optional(Ram),
    }),
    answer: Type.Object({ vm: Vm, networks: Type.Optional(Type.Array(NetworkRef)) }),
  },
  /** The VM goes to state X; the answer is the record as it was. */
  'vm-delete': { body: Type.Object({ name: Name() }), answer: Type.Object({ vm: Vm }) },
  'network-create': {
    body: Type.Object({
      name: Name(),
      description: Type.Optional(Text(1024)),
      subnet: Type.Optional(Nullable(Type.String({ maxLength: 18 }))),
    }),
    answer: Type.Object({ network: Network }),
  },
  'network-update': {
    body: Type.Object({ name: Name(), rename: Type.Optional(Name()) }),
    answer: Type.Object({ network: Network }),
  },
  /** Refused while a VM or a router interface uses the network; else it goes to state X. */
  'network-delete': { body: Type.Object({ name: Name() }), answer: Type.Object({ network: Network }) },
  'router-create': { body: Type.Object({ name: Name() }), answer: Type.Object({ router: Router }) },
  'router-delete': {
    body: Type.Object({ name: Name() }),
    answer: Type.Object({ router: Router, interfaces: Type.Array(RouterInterface) }),
  },
  /** Checks only (the interface is written when the task succeeds). */
  'interface-create': {
    body: Type.Object({ router: Name('router'), network: Name('network'), ip: Ip }),
    answer: Type.Object({ router: Router, network: Network }),
  },
  'interface-delete': {
    body: Type.Object({ router: Name('router'), network: Name('network') }),
    answer: Type.Object({ router: Router, network: Network, interface: RouterInterface }),
  },
} as const;

export type AcceptOp = keyof typeof ACCEPT_OPS;
export const ACCEPT_OP_NAMES = Object.keys(ACCEPT_OPS) as AcceptOp[];
export type AcceptBody<O extends AcceptOp> = Static<(typeof ACCEPT_OPS)[O]['body']>;
export type AcceptAnswer<O extends AcceptOp> = Static<(typeof ACCEPT_OPS)[O]['answer']>;

/** DELETE /<ws>/accepts/<task>/: how many writes were undone (0: none were made, or undone already). */
export const AcceptUndone = Type.Object({ task: Type.String(), undone: Type.Integer() });
export type AcceptUndone = Static<typeof AcceptUndone>;
export type NetworkRef = Static<typeof NetworkRef>;
