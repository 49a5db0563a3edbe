// What services tell a workspace room (the notification service relays the JSON as it was written; the CLI
// and the dashboard read it). Each event names its kind.
import { Type, type Static } from 'typebox';
import { Nullable } from './common.ts';
import { Task } from './controller.ts';
import { checker } from './validate.ts';

const { task_id, workspace, type, method, object, status, stage } = Task.properties;

/** A task moved on (controller): the task as GET /task/<id>/ shows it, in part, and the object's state when
 * that changed. */
export const TaskEvent = Type.Object({
  kind: Type.Literal('task'),
  task_id,
  workspace,
  type,
  method,
  object,
  status,
  stage,
  error: Type.Optional(Nullable(Type.String())),
  retries_left: Type.Optional(Type.Integer()),
  state: Type.Optional(Type.String({ description: "the object's state now (VM C_D/C_N/U..., or deleted)" })),
});

/** A VM was restarted on another host after its host failed (compute's failover). */
export const VmMoved = Type.Object({
  kind: Type.Literal('vm_moved'),
  workspace: Type.String(),
  name: Type.String(),
  host: Type.String(),
  from: Nullable(Type.String()),
  reason: Type.String(),
});

/** A private port of one of the workspace's VMs that no record explains was cut off: set down and moved to
 * the dead VLAN 4095 (network's reconciler, docs/security.md). */
export const PortQuarantined = Type.Object({
  kind: Type.Literal('port_quarantined'),
  workspace: Type.String(),
  /** The VM. */
  name: Type.String(),
  host: Type.String(),
  /** Its OVS port. */
  dev: Type.String(),
  reason: Type.Union([Type.Literal('untagged'), Type.Literal('unknown-vlan'), Type.Literal('no-record')]),
  /** The VLAN tag it had (null: untagged). */
  found: Nullable(Type.Integer()),
});

export const RoomEvent = Type.Union([TaskEvent, VmMoved, PortQuarantined]);

export type TaskEvent = Static<typeof TaskEvent>;
export type VmMoved = Static<typeof VmMoved>;
export type PortQuarantined = Static<typeof PortQuarantined>;
export type RoomEvent = Static<typeof RoomEvent>;

export const taskEvents = checker(TaskEvent);
export const roomEvents = checker(RoomEvent);
