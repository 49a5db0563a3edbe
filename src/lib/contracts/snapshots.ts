// VM snapshots in inventory (issue 15 item 5): members read a VM's snapshots, services write them (users go
// through the controller's POST /snapshots/, /snapshots/revert/ and DELETE /snapshots/).
import { Type, type Static } from 'typebox';
import { Name, Nullable, OneOf, SnapshotName, TaskId } from './common.ts';

/** C: being taken; U: taken, ready to revert to. */
export const SNAPSHOT_STATES = ['C', 'U'] as const;
export const SnapshotState = OneOf(SNAPSHOT_STATES);

export const Snapshot = Type.Object({
  name: Type.String(),
  state: SnapshotState,
  running: Nullable(
    Type.Boolean({
      description:
        "taken running (holds the guest's memory: reverts running) or stopped; null while being taken",
    }),
  ),
  created_at: Type.String({ format: 'date-time' }),
});
export const SnapshotList = Type.Object({ snapshots: Type.Array(Snapshot) });
export const SnapshotBody = Type.Object({
  name: SnapshotName,
  state: Type.Optional(SnapshotState),
  running: Type.Optional(Type.Boolean()),
  task: Type.Optional(TaskId),
});
export const SnapshotUpdate = Type.Object({
  state: Type.Optional(SnapshotState),
  running: Type.Optional(Type.Boolean()),
});
export const VmSnapshotParams = Type.Object({ ws: Name('workspace'), name: Name('vm') });
export const SnapshotParams = Type.Object({
  ws: Name('workspace'),
  name: Name('vm'),
  snapshot: SnapshotName,
});

export type Snapshot = Static<typeof Snapshot>;
export type SnapshotList = Static<typeof SnapshotList>;
export type SnapshotBody = Static<typeof SnapshotBody>;
export type SnapshotUpdate = Static<typeof SnapshotUpdate>;
