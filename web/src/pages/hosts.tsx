// The operators' hosts page (issue 18.4, admins): every hypervisor with the VMs it runs, whether it is in
// maintenance, and the planned moves: drain and restore a host (POST /hosts/drain/, /hosts/restore/), migrate one
// VM live (POST /vms/migrate/). The page hears the hosts' room, where drains, restores, migrations and failover
// moves of every workspace are told, so hosts and VMs change here without a reload.
import { useMemo, useState } from 'react';
import { ctl, enc, inv, type Host, type PlacedVm, type RoomMessage, type Task } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { UsageChart } from '../chart.tsx';
import { useDebounced, useInterval, useResource } from '../hooks.ts';
import { useRoom, useRoomEvents } from '../room.tsx';
import { Link, wsPath } from '../router.tsx';
import { hasEnded, useTaskWatch } from '../task-watch.ts';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  FormDrawer,
  KeyValues,
  Loading,
  PageHeader,
  SelectField,
  StatePill,
  Table,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';
import { CatalogueForm, KINDS } from './operator.tsx';
import { TaskBadge } from './secgroups.tsx';

export function HostsPage() {
  const { claims } = useAuth();
  const admin = Boolean(claims?.admin);
  const toast = useToast();
  const room = useRoom();
  const hosts = useResource(admin ? () => inv.list<Host>('/hosts/', 'hosts') : undefined, 'hosts');
  const vms = useResource(admin ? inv.placedVms : undefined, 'placed-vms');
  // Host tasks already running (a drain started from the CLI) show too.
  const running = useResource(
    admin
      ? () => ctl.get<{ tasks: Task[] }>('/running_tasks/_hosts/?limit=100').then((r) => r.tasks)
      : undefined,
    'host-tasks',
  );
  const reloadAll = () => {
    hosts.reload();
    vms.reload();
  };
  const reloadSoon = useDebounced(reloadAll, 300);
  const watch = useTaskWatch(reloadAll);
  useRoomEvents((m) => {
    if (m.kind === 'resync') {
      running.reload();
      return reloadSoon();
    }
    const msg = m as RoomMessage;
    // A drain's progress names each VM it moved; a migration or a failover moved one: hosts and VMs again.
    if (msg.type === 'host' || msg.type === 'vm' || m.kind === 'vm_moved') reloadSoon();
    if (m.kind === 'task' && msg.task_id && msg.object && msg.status) {
      const key = msg.type === 'host' ? `host:${msg.object}` : `vm:${msg.workspace}/${msg.object}`;
      if (!watch.tasks[key] || watch.tasks[key].task_id !== msg.task_id)
        watch.track(key, { task_id: msg.task_id, status: msg.status, stage: msg.stage });
    }
  });
  // Without the room, poll while a task runs.
  const inFlight = Object.values(watch.tasks).some((t) => !hasEnded(t));
  useInterval(reloadAll, room.status !== 'live' && inFlight ? 4000 : undefined);

  const hostTask = (name: string) =>
    watch.tasks[`host:${name}`] ??
    running.data
      ?.filter((t) => t.type === 'host' && t.object === name)
      .map((t) => ({ task_id: t.task_id, status: t.status, stage: t.stage, error: t.error }))[0];

  const byHost = useMemo(() => {
    const m = new Map<string, PlacedVm[]>();
    for (const v of vms.data ?? []) {
      if (!v.host) continue;
      m.set(v.host, [...(m.get(v.host) ?? []), v]);
    }
    return m;
  }, [vms.data]);

  const [editing, setEditing] = useState<Host | 'new' | undefined>();
  const [deleting, setDeleting] = useState<Host | undefined>();
  const [draining, setDraining] = useState<Host | undefined>();
  const [migrating, setMigrating] = useState<PlacedVm | undefined>();

  const restore = async (h: Host) => {
    try {
      const r = await ctl.host('restore', { host: h.name });
      watch.track(`host:${h.name}`, r);
      toast('info', `Restoring ${h.name}…`);
    } catch (e) {
      toast('error', e instanceof Error ? e.message : String(e));
    }
  };

  if (!admin)
    return (
      <Empty icon="server" title="Hosts are the operators'">
        Only admins see and service the hypervisor hosts.
      </Empty>
    );
  const list = hosts.data ?? [];
  return (
    <>
      <PageHeader
        title="Hosts"
        subtitle="Hypervisors and the VMs they run. Drain a host to service it: its VMs move live to the others."
        actions={
          <>
            <Button variant="ghost" icon="refresh" aria-label="Refresh" onClick={reloadAll} />
            <Button variant="primary" icon="plus" onClick={() => setEditing('new')} data-testid="create-host">
              Add host
            </Button>
          </>
        }
      />
      <ErrorBanner error={hosts.error ?? vms.error} onRetry={reloadAll} />
      {!hosts.data && hosts.loading ? <Loading what="Loading hosts" /> : null}
      {hosts.data && !list.length ? (
        <Card>
          <Empty icon="server" title="No hosts yet">
            Add a hypervisor: libvirt over SSH, with the two OVS bridges.
          </Empty>
        </Card>
      ) : null}
      {list.map((h) => {
        const task = hostTask(h.name);
        const busy = Boolean(task && !hasEnded(task));
        const on = byHost.get(h.name) ?? [];
        return (
          <Card
            key={h.name}
            title={
              <span
                className="title-with-pill"
                data-testid={`host-${h.name}`}
                data-maintenance={h.maintenance ? 'true' : 'false'}
              >
                {h.name}{' '}
                {h.maintenance ? (
                  <span className="pill pill-warn" data-testid={`host-maintenance-${h.name}`}>
                    <span className="dot" aria-hidden="true" />
                    Maintenance
                  </span>
                ) : (
                  <span className="pill pill-ok">
                    <span className="dot" aria-hidden="true" />
                    Schedulable
                  </span>
                )}
                <TaskBadge task={task} testId={`host-task-${h.name}`} />
              </span>
            }
            actions={
              <span className="row-actions">
                {h.maintenance ? (
                  <Button
                    icon="play"
                    disabled={busy}
                    onClick={() => void restore(h)}
                    data-testid={`host-restore-${h.name}`}
                  >
                    Restore
                  </Button>
                ) : (
                  <Button
                    icon="move"
                    disabled={busy}
                    onClick={() => setDraining(h)}
                    data-testid={`host-drain-${h.name}`}
                  >
                    Drain
                  </Button>
                )}
                <Button
                  variant="ghost"
                  icon="edit"
                  aria-label={`Edit ${h.name}`}
                  onClick={() => setEditing(h)}
                />
                <Button
                  variant="ghost"
                  icon="trash"
                  aria-label={`Delete ${h.name}`}
                  onClick={() => setDeleting(h)}
                />
              </span>
            }
          >
            <KeyValues
              items={[
                ['Area', h.area],
                ['Address', <code key="a">{h.address}</code>],
                ['Capacity', `${h.cpus} CPUs · ${h.memory} GiB · ${h.domain_type}`],
                [
                  'VMs',
                  `${on.length} · ${on.reduce((n, v) => n + v.cpu, 0)} vCPU · ${
                    Math.round(on.reduce((n, v) => n + v.ram, 0) * 100) / 100
                  } GiB`,
                ],
              ]}
            />
            <Table
              columns={[
                {
                  key: 'name',
                  label: 'VM',
                  render: (v) => (
                    <Link to={wsPath(v.workspace, `vms/${enc(v.name)}`)} className="strong-link">
                      {v.name}
                    </Link>
                  ),
                },
                { key: 'workspace', label: 'Workspace', render: (v) => v.workspace },
                { key: 'state', label: 'State', render: (v) => <StatePill state={v.state} /> },
                { key: 'ip', label: 'IP', render: (v) => <code>{v.ip ?? '—'}</code> },
                {
                  key: 'task',
                  label: 'Move',
                  render: (v) => <TaskBadge task={watch.tasks[`vm:${v.workspace}/${v.name}`]} />,
                },
                {
                  key: 'actions',
                  label: '',
                  className: 'actions',
                  render: (v) => {
                    const t = watch.tasks[`vm:${v.workspace}/${v.name}`];
                    return (
                      <Button
                        variant="ghost"
                        icon="move"
                        aria-label={`Migrate ${v.name}`}
                        disabled={v.state !== 'U' || Boolean(t && !hasEnded(t)) || busy}
                        title={v.state !== 'U' ? 'only an up VM migrates' : 'Migrate live'}
                        onClick={() => setMigrating(v)}
                      />
                    );
                  },
                },
              ]}
              rows={on}
              rowKey={(v) => `${v.workspace}/${v.name}`}
              rowProps={(v) => ({
                'data-testid': `host-vm-${v.workspace}-${v.name}`,
                'data-host': h.name,
              })}
              empty={<p className="muted pad">No VM on this host.</p>}
            />
            <UsageChart source={`/hosts/${enc(h.name)}/`} title={`${h.name}: CPU and memory`} height={90} />
          </Card>
        );
      })}
      {editing ? (
        <CatalogueForm
          kind={KINDS.hosts}
          row={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={hosts.reload}
        />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete host ${deleting.name}?`}
          body={<p>Refused while anything still uses it.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await inv.del(`/hosts/${enc(deleting.name)}/`);
            toast('ok', `${deleting.name} deleted`);
            hosts.reload();
          }}
        />
      ) : null}
      {draining ? (
        <DrainHost
          host={draining}
          vms={byHost.get(draining.name)?.length ?? 0}
          onClose={() => setDraining(undefined)}
          onAccepted={(r) => watch.track(`host:${draining.name}`, r)}
        />
      ) : null}
      {migrating ? (
        <MigrateVm
          vm={migrating}
          hosts={list.filter((h) => h.name !== migrating.host && !h.maintenance && h.area === migrating.area)}
          onClose={() => setMigrating(undefined)}
          onAccepted={(r) => watch.track(`vm:${migrating.workspace}/${migrating.name}`, r)}
        />
      ) : null}
    </>
  );
}

function DrainHost({
  host,
  vms,
  onClose,
  onAccepted,
}: {
  host: Host;
  vms: number;
  onClose: () => void;
  onAccepted: (r: { task_id: string }) => void;
}) {
  const toast = useToast();
  const [parallel, setParallel] = useState('2');
  const act = useAction(async () => {
    const r = await ctl.host('drain', { host: host.name, parallel: Number(parallel) });
    onAccepted(r);
    toast('info', `Draining ${host.name}…`);
    onClose();
  });
  return (
    <FormDrawer
      title={`Drain ${host.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Drain"
      submitTestId="drain-submit"
      fields={['parallel']}
    >
      <p className="muted">
        {host.name} takes no new VMs and is never chosen by failover; its {vms} VM{vms === 1 ? '' : 's'} move
        live to other hosts of area {host.area}, as placement chooses. A VM that cannot move stays, and the
        task says which. Restore the host to make it schedulable again.
      </p>
      <TextField
        label="VMs moved at once"
        name="parallel"
        inputMode="numeric"
        value={parallel}
        onChange={(e) => setParallel(e.target.value)}
        error={act.error}
      />
    </FormDrawer>
  );
}

function MigrateVm({
  vm,
  hosts,
  onClose,
  onAccepted,
}: {
  vm: PlacedVm;
  hosts: Host[];
  onClose: () => void;
  onAccepted: (r: { task_id: string }) => void;
}) {
  const toast = useToast();
  const [to, setTo] = useState('');
  const act = useAction(async () => {
    const r = await ctl.migrate({ owner: vm.workspace, name: vm.name, ...(to ? { host: to } : {}) });
    onAccepted(r);
    toast('info', `Migrating ${vm.name}…`);
    onClose();
  });
  return (
    <FormDrawer
      title={`Migrate ${vm.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Migrate"
      submitTestId="migrate-submit"
      fields={['host']}
    >
      <p className="muted">
        A live move from {vm.host}: the guest keeps running; its disk stays on the shared pool.
      </p>
      <SelectField
        label="Destination"
        name="host"
        value={to}
        onChange={(e) => setTo(e.target.value)}
        error={act.error}
        placeholder="Placement chooses"
        options={hosts.map((h) => ({ value: h.name }))}
      />
    </FormDrawer>
  );
}
