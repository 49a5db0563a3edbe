// A VM's snapshots on its page (issue 15 item 5): the list (inventory's GET /<ws>/vms/<name>/snapshots/),
// take one (POST /snapshots/: in the state the VM is in), revert to one (POST /snapshots/revert/) or delete one
// (DELETE /snapshots/). The VM takes one task at a time: the buttons wait while one runs. The list reloads
// when a snapshot task of the VM changes (the page's room events reload its tasks).
import { useEffect, useState } from 'react';
import { ctl, enc, inv, type Snapshot, type Vm } from '../api.ts';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  Confirm,
  ErrorBanner,
  FormDrawer,
  Loading,
  Table,
  TextField,
  timeAgo,
  useAction,
  useToast,
} from '../ui.tsx';
import { runningTask, type VmCardProps } from './vm-actions.tsx';

export function VmSnapshots({ ws, vm, tasks, canEdit, onAccepted }: VmCardProps) {
  const toast = useToast();
  const list = useResource(
    () =>
      inv
        .get<{ snapshots: Snapshot[] }>(`/${enc(ws)}/vms/${enc(vm.name)}/snapshots/`)
        .then((r) => r.snapshots),
    `snapshots:${ws}:${vm.name}`,
  );
  // A snapshot task that moved on (taken, reverted, deleted, rolled back): the list follows.
  const mark = (tasks ?? [])
    .filter((t) => t.method === 'SNAPSHOT')
    .map((t) => `${t.task_id}:${t.status}`)
    .join(',');
  useEffect(() => list.reload(), [mark]);
  const [taking, setTaking] = useState(false);
  const [asked, setAsked] = useState<{ action: 'revert' | 'delete'; name: string } | undefined>();
  const running = runningTask(tasks);
  const atRest = vm.state === 'U' || vm.state === 'D';
  const denied = !canEdit && 'vm_can_edit';
  const blocked = Boolean(running) || !atRest;
  const why = running ? `a ${running.method} task is running` : !atRest ? `the VM is ${vm.state}` : undefined;
  return (
    <Card
      title="Snapshots"
      actions={
        <Button
          icon="plus"
          deniedBy={denied}
          disabled={blocked}
          title={why}
          onClick={() => setTaking(true)}
          data-testid="snapshot-take"
        >
          Take snapshot
        </Button>
      }
    >
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {!list.data && list.loading ? <Loading /> : null}
      {list.data ? (
        <Table
          columns={[
            { key: 'name', label: 'Name', render: (s) => <strong>{s.name}</strong> },
            {
              key: 'taken',
              label: 'Taken',
              render: (s) =>
                s.state === 'C' ? (
                  <span className="muted">being taken…</span>
                ) : s.running ? (
                  'running (with memory)'
                ) : (
                  'stopped'
                ),
            },
            { key: 'created', label: 'Created', render: (s) => timeAgo(s.created_at) },
            {
              key: 'actions',
              label: '',
              render: (s) => (
                <span className="row-actions">
                  <Button
                    icon="refresh"
                    deniedBy={denied}
                    disabled={blocked || s.state !== 'U'}
                    title={why}
                    onClick={() => setAsked({ action: 'revert', name: s.name })}
                    data-testid={`snapshot-revert-${s.name}`}
                  >
                    Revert
                  </Button>
                  <Button
                    icon="trash"
                    variant="danger"
                    deniedBy={denied}
                    disabled={blocked || s.state !== 'U'}
                    title={why}
                    onClick={() => setAsked({ action: 'delete', name: s.name })}
                    data-testid={`snapshot-delete-${s.name}`}
                  >
                    Delete
                  </Button>
                </span>
              ),
            },
          ]}
          rows={list.data}
          rowKey={(s) => s.name}
          rowProps={(s) => ({ 'data-testid': `snapshot-${s.name}` })}
          empty={<p className="muted pad">No snapshot yet.</p>}
        />
      ) : null}
      {taking ? (
        <TakeSnapshot
          ws={ws}
          vm={vm}
          onClose={() => setTaking(false)}
          onAccepted={() => {
            list.reload();
            onAccepted();
          }}
        />
      ) : null}
      {asked ? (
        <Confirm
          title={
            asked.action === 'revert'
              ? `Revert ${vm.name} to ${asked.name}?`
              : `Delete snapshot ${asked.name}?`
          }
          body={
            <p>
              {asked.action === 'revert'
                ? 'The VM goes back to the snapshot: its disk (and, if it was taken running, its memory) as they were then. What changed since is lost.'
                : 'The snapshot is removed from the VM’s disk. The VM itself is not touched.'}
            </p>
          }
          confirmLabel={asked.action === 'revert' ? 'Revert' : 'Delete'}
          onClose={() => setAsked(undefined)}
          onConfirm={async () => {
            const body = { owner: ws, vm: vm.name, name: asked.name };
            if (asked.action === 'revert') await ctl.snapshot('POST', '/snapshots/revert/', body);
            else await ctl.snapshot('DELETE', '/snapshots/', body);
            toast('info', `${asked.action === 'revert' ? 'Reverting to' : 'Deleting'} ${asked.name}…`);
            onAccepted();
          }}
        />
      ) : null}
    </Card>
  );
}

function TakeSnapshot({
  ws,
  vm,
  onClose,
  onAccepted,
}: {
  ws: string;
  vm: Vm;
  onClose: () => void;
  onAccepted: () => void;
}) {
  const toast = useToast();
  const [name, setName] = useState('');
  const act = useAction(async () => {
    await ctl.snapshot('POST', '/snapshots/', { owner: ws, vm: vm.name, name });
    toast('info', `Taking snapshot ${name} of ${vm.name}…`);
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title={`Snapshot of ${vm.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Take snapshot"
      submitTestId="snapshot-submit"
      fields={['name']}
    >
      <p className="muted">
        {vm.state === 'U'
          ? 'The VM is running: the snapshot holds its disk and its memory, and a revert brings it back running.'
          : 'The VM is down: the snapshot holds its disk, and a revert leaves it down.'}
      </p>
      <TextField
        label="Name"
        name="name"
        value={name}
        autoFocus
        onChange={(e) => setName(e.target.value)}
        error={act.error}
        hint="1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit."
      />
    </FormDrawer>
  );
}
