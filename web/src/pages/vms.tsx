// Virtual machines: the list with live state, create (with its progress C_D -> C_N -> U as the room tells it),
// edit, delete, and the detail page. Changes go to the controller (202 + task); the room's messages move the
// page on without a reload, and a reconnection (or a room that is down) falls back to refetching.
import { useEffect, useMemo, useState } from 'react';
import {
  ctl,
  enc,
  inv,
  type Accepted,
  type Area,
  type Network,
  type RoomMessage,
  type Task,
  type Template,
  type Vm,
} from '../api.ts';
import { usePerms } from '../auth.tsx';
import { UsageChart } from '../chart.tsx';
import { useDebounced, useInterval, useResource } from '../hooks.ts';
import { useRoom, useRoomEvents } from '../room.tsx';
import { loadKeys } from './keys.tsx';
import { Link, navigate, wsPath } from '../router.tsx';
import { PowerButtons, ResizeVm, runningTask } from './vm-actions.tsx';
import { SecurityGroupsField, VmSecurityGroups } from './vm-secgroups.tsx';
import { VmSnapshots } from './vm-snapshots.tsx';
import {
  Button,
  Card,
  ChecksField,
  Confirm,
  Drawer,
  Empty,
  ErrorBanner,
  Field,
  FormDrawer,
  Icon,
  isBusyVmState,
  KeyValues,
  Loading,
  PageHeader,
  SelectField,
  StatePill,
  Table,
  TextField,
  timeAgo,
  type Column,
  useAction,
  useToast,
} from '../ui.tsx';

export const loadVms = (ws: string) => inv.list<Vm>(`/${enc(ws)}/vms/`, 'vms');
const loadNetworks = (ws: string) => inv.list<Network>(`/${enc(ws)}/networks/`, 'networks');

/** Keeps a VM list in step with the room: states move at once, the rest follows on a (debounced) refetch. */
function useLiveVms(ws: string) {
  const list = useResource(() => loadVms(ws), `vms:${ws}`);
  const room = useRoom();
  const reloadSoon = useDebounced(list.reload, 300);
  useRoomEvents((m) => {
    if (m.kind === 'resync') return list.reload();
    const msg = m as RoomMessage;
    if (msg.type !== 'vm') return;
    if (msg.object && msg.state) {
      // A VM task's event carries the VM's state (or 'deleted').
      const state = msg.state as Vm['state'] | 'deleted';
      list.mutate((vms) =>
        state === 'deleted'
          ? vms.filter((v) => v.name !== msg.object)
          : vms.map((v) => (v.name === msg.object ? { ...v, state } : v)),
      );
    }
    reloadSoon();
  });
  // Without live updates, poll while something is in flight.
  const busy = list.data?.some((v) => isBusyVmState(v.state)) ?? false;
  useInterval(list.reload, room.status !== 'live' && busy ? 4000 : undefined);
  return list;
}

export function VmsPage({ ws }: { ws: string }) {
  const perms = usePerms(ws);
  const list = useLiveVms(ws);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Vm | undefined>();
  const [deleting, setDeleting] = useState<Vm | undefined>();
  const [filter, setFilter] = useState('');
  const toast = useToast();

  const rows = (list.data ?? []).filter(
    (v) =>
      !filter ||
      `${v.name} ${v.ip ?? ''} ${v.host ?? ''} ${v.template}`.toLowerCase().includes(filter.toLowerCase()),
  );
  const columns: Column<Vm>[] = [
    {
      key: 'name',
      label: 'Name',
      render: (v) => (
        <Link to={wsPath(ws, `vms/${enc(v.name)}`)} className="strong-link">
          {v.name}
        </Link>
      ),
    },
    { key: 'state', label: 'State', render: (v) => <StatePill state={v.state} /> },
    { key: 'ip', label: 'IP address', render: (v) => <code>{v.ip ?? '—'}</code> },
    { key: 'template', label: 'Template', render: (v) => v.template },
    { key: 'area', label: 'Area', render: (v) => v.area },
    { key: 'host', label: 'Host', render: (v) => v.host ?? <span className="muted">—</span> },
    {
      key: 'networks',
      label: 'Networks',
      render: (v) =>
        v.networks.length ? (
          v.networks.map((n) => (
            <span key={n} className="tag">
              {n}
            </span>
          ))
        ) : (
          <span className="muted">none</span>
        ),
    },
    {
      key: 'actions',
      label: '',
      className: 'actions',
      render: (v) => (
        <span className="row-actions">
          <Button
            variant="ghost"
            icon="edit"
            aria-label={`Edit ${v.name}`}
            deniedBy={!perms.vm_can_edit && 'vm_can_edit'}
            disabled={isBusyVmState(v.state)}
            onClick={() => setEditing(v)}
          />
          <Button
            variant="ghost"
            icon="trash"
            aria-label={`Delete ${v.name}`}
            deniedBy={!perms.vm_can_delete && 'vm_can_delete'}
            disabled={isBusyVmState(v.state)}
            onClick={() => setDeleting(v)}
          />
        </span>
      ),
    },
  ];

  const counts = useMemo(() => {
    const c = { up: 0, busy: 0, bad: 0 };
    for (const v of list.data ?? []) {
      if (v.state === 'U') c.up++;
      else if (isBusyVmState(v.state)) c.busy++;
      else if (v.state === 'E') c.bad++;
    }
    return c;
  }, [list.data]);

  return (
    <>
      <PageHeader
        title="Virtual machines"
        subtitle={
          list.data
            ? `${list.data.length} VMs · ${counts.up} up${counts.busy ? ` · ${counts.busy} in progress` : ''}${counts.bad ? ` · ${counts.bad} in error` : ''}`
            : undefined
        }
        actions={
          <>
            <Button variant="ghost" icon="refresh" aria-label="Refresh" onClick={list.reload} />
            <Button
              variant="primary"
              icon="plus"
              deniedBy={!perms.vm_can_add && 'vm_can_add'}
              onClick={() => setCreating(true)}
              data-testid="create-vm"
            >
              Create VM
            </Button>
          </>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        <div className="toolbar">
          <input
            className="input search"
            placeholder="Filter by name, IP, host…"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            aria-label="Filter VMs"
          />
        </div>
        {!list.data && list.loading ? (
          <Loading what="Loading VMs" />
        ) : (
          <Table
            columns={columns}
            rows={rows}
            rowKey={(v) => v.name}
            rowProps={(v) => ({ 'data-testid': `vm-row-${v.name}`, 'data-state': v.state })}
            empty={
              <Empty icon="server" title={filter ? 'No VM matches' : 'No virtual machines yet'}>
                {perms.vm_can_add
                  ? 'Create one from a template; it is placed on a host of the area you pick.'
                  : 'You may not create VMs in this workspace.'}
              </Empty>
            }
          />
        )}
      </Card>
      {creating ? <CreateVm ws={ws} onClose={() => setCreating(false)} onAccepted={list.reload} /> : null}
      {editing ? (
        <EditVm ws={ws} vm={editing} onClose={() => setEditing(undefined)} onAccepted={list.reload} />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete ${deleting.name}?`}
          body={
            <p>
              The VM is stopped and its disk removed; its address{' '}
              {deleting.ip ? <code>{deleting.ip}</code> : null} goes back to area {deleting.area}.
            </p>
          }
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'vms', { owner: ws, name: deleting.name });
            toast('info', `Deleting ${deleting.name}…`);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

// ---------- create, with progress ----------
type Step = 'C_D' | 'C_N' | 'U';
const STEPS: { key: Step; label: string; detail: string }[] = [
  {
    key: 'C_D',
    label: 'Creating disk',
    detail: 'placing the VM, cloning the template disk, writing cloud-init',
  },
  { key: 'C_N', label: 'Configuring network', detail: 'tagging its ports on the private networks' },
  { key: 'U', label: 'Up', detail: 'the VM is running' },
];

interface Progress {
  step: Step;
  /** The steps the task was seen at, in order (a VM on no network goes from C_D straight to U). */
  seen: Step[];
  done: boolean;
  failed?: string;
  note?: string;
}

/** Folds a task's room messages (or its polled row) into the step it is at. */
export function progressOf(
  p: Progress,
  m: { status?: string; stage?: string; state?: string; error?: string | null; retries_left?: number },
): Progress {
  if (m.status === 'successful')
    return { step: 'U', seen: [...p.seen.filter((x) => x !== 'U'), 'U'], done: true };
  if (m.status === 'rolling_back')
    return { ...p, note: `Failed: ${m.error ?? 'unknown error'} — rolling back` };
  if (m.status === 'rolled_back' || m.status === 'failed')
    return { ...p, failed: m.error ?? 'the task failed' };
  if (m.stage === 'retrying')
    return {
      ...p,
      note: `Attempt failed (${m.error ?? 'error'}); retrying${m.retries_left !== undefined ? `, ${m.retries_left} retries left` : ''}`,
    };
  if ((m.state === 'C_N' || m.stage === 'C_N') && !p.done)
    return { ...p, step: 'C_N', seen: p.seen.includes('C_N') ? p.seen : [...p.seen, 'C_N'], note: undefined };
  return p;
}

function ProgressSteps({ progress }: { progress: Progress }) {
  const at = STEPS.findIndex((s) => s.key === progress.step);
  return (
    <ol
      className="steps"
      data-testid="vm-progress"
      data-step={progress.done ? 'U' : progress.step}
      data-seen={progress.seen.join(' ')}
      data-failed={progress.failed ? 'true' : undefined}
    >
      {STEPS.map((s, i) => {
        const state =
          progress.done || i < at
            ? progress.seen.includes(s.key)
              ? 'done'
              : 'skipped'
            : i === at
              ? progress.failed
                ? 'failed'
                : 'current'
              : 'waiting';
        return (
          <li key={s.key} className={`step step-${state}`} data-step={s.key}>
            <span className="step-mark">
              {state === 'done' ? (
                <Icon name="check" size={14} />
              ) : state === 'skipped' ? (
                '–'
              ) : state === 'current' ? (
                <span className="spinner" />
              ) : state === 'failed' ? (
                '!'
              ) : (
                i + 1
              )}
            </span>
            <span>
              <strong>{s.label}</strong> <code className="muted">{s.key}</code>
              <span className="muted small">
                {state === 'skipped' ? 'not needed: no private network' : s.detail}
              </span>
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function CreateVm({ ws, onClose, onAccepted }: { ws: string; onClose: () => void; onAccepted: () => void }) {
  const templates = useResource(() => inv.list<Template>('/templates/', 'templates'), 'templates');
  const areas = useResource(() => inv.list<Area>('/areas/', 'areas'), 'areas');
  const networks = useResource(() => loadNetworks(ws), `networks:${ws}`);
  const [form, setForm] = useState({ name: '', description: '', template: '', area: '', password: '' });
  const [nets, setNets] = useState<string[]>([]);
  const keys = useResource(loadKeys, 'keys');
  const [sshKeys, setSshKeys] = useState<string[]>([]);
  const [userData, setUserData] = useState('');
  const [groups, setGroups] = useState<string[] | undefined>();
  const [showPw, setShowPw] = useState(false);
  const [accepted, setAccepted] = useState<Accepted | undefined>();
  const [progress, setProgress] = useState<Progress>({ step: 'C_D', seen: ['C_D'], done: false });
  const room = useRoom();

  useEffect(() => {
    setForm((f) => ({
      ...f,
      template: f.template || templates.data?.[0]?.name || '',
      area: f.area || areas.data?.[0]?.name || '',
    }));
  }, [templates.data, areas.data]);

  const act = useAction(async () => {
    // A key or user-data is a way in without a password: an empty one is left out (password SSH off then).
    const { password, ...rest } = form;
    const r = await ctl.send('POST', 'vms', {
      ...rest,
      owner: ws,
      networks: nets,
      ...(password ? { password } : {}),
      ...(sshKeys.length ? { ssh_keys: sshKeys } : {}),
      ...(userData.trim() ? { user_data: userData } : {}),
      ...(groups ? { security_groups: groups } : {}),
    });
    setAccepted(r);
    onAccepted();
  });
  useRoomEvents((m) => {
    if (accepted && (m as RoomMessage).task_id === accepted.task_id)
      setProgress((p) => progressOf(p, m as RoomMessage));
  });
  // A room that is down must not leave the progress stuck: follow the task itself then.
  useInterval(
    () => {
      if (!accepted) return;
      void ctl
        .get<Task>(`/task/${accepted.task_id}/`)
        .then((t) =>
          setProgress((p) =>
            progressOf(p, { status: t.status, stage: t.stage, error: t.error, retries_left: t.retries_left }),
          ),
        )
        .catch(() => undefined);
    },
    accepted && !progress.done && !progress.failed ? (room.status === 'live' ? 10_000 : 3000) : undefined,
  );

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));
  const tpl = templates.data?.find((t) => t.name === form.template);

  if (accepted) {
    return (
      <Drawer
        title={`Creating ${accepted.name}`}
        onClose={onClose}
        footer={
          <>
            <Button onClick={onClose}>{progress.done || progress.failed ? 'Close' : 'Hide'}</Button>
            <Button variant="primary" onClick={() => navigate(wsPath(ws, `vms/${enc(accepted.name)}`))}>
              Open VM
            </Button>
          </>
        }
      >
        <p className="muted">
          Task <code>{accepted.task_id.slice(0, 8)}</code> accepted
          {accepted.ip ? (
            <>
              {' '}
              · address <code>{accepted.ip}</code>
            </>
          ) : null}
          . You can close this panel: the list keeps showing the VM's state.
        </p>
        <ProgressSteps progress={progress} />
        {progress.note && !progress.failed ? <div className="banner banner-warn">{progress.note}</div> : null}
        {progress.failed ? (
          <div className="banner banner-error" role="alert">
            <Icon name="alert" size={16} />
            <span>The VM could not be created and was rolled back: {progress.failed}</span>
          </div>
        ) : null}
        {progress.done ? (
          <div className="banner banner-ok" data-testid="vm-ready">
            <Icon name="check" size={16} />
            <span>
              {accepted.name} is up{accepted.ip ? ` at ${accepted.ip}` : ''}.
            </span>
          </div>
        ) : null}
      </Drawer>
    );
  }

  const fields = [
    'name',
    'description',
    'template',
    'area',
    'networks',
    'security_groups',
    'password',
    'ssh_keys',
    'user_data',
  ];
  return (
    <FormDrawer
      title="Create a virtual machine"
      onClose={onClose}
      action={{ ...act, error: act.error ?? templates.error ?? areas.error }}
      submitLabel="Create VM"
      submitTestId="create-vm-submit"
      wide
      fields={fields}
    >
      <TextField
        label="Name"
        name="name"
        value={form.name}
        onChange={set('name')}
        error={act.error}
        placeholder="e.g. web-1"
        hint="Also the guest's hostname."
        autoFocus
      />
      <TextField
        label="Description"
        name="description"
        value={form.description}
        onChange={set('description')}
        error={act.error}
        placeholder="optional"
      />
      <div className="form-row">
        <SelectField
          label="Template"
          name="template"
          value={form.template}
          onChange={set('template')}
          error={act.error}
          options={(templates.data ?? []).map((t) => ({
            value: t.name,
            label: `${t.name}${t.os ? ` (${t.os})` : ''}`,
          }))}
          placeholder={templates.data?.length ? undefined : 'No template yet'}
          hint={tpl ? `${tpl.cpu} vCPU · ${fmtGiB(tpl.ram)} RAM · ${fmtGiB(tpl.disk)} disk` : undefined}
        />
        <SelectField
          label="Area"
          name="area"
          value={form.area}
          onChange={set('area')}
          error={act.error}
          options={(areas.data ?? []).map((a) => ({ value: a.name, label: `${a.name} (${a.subnet})` }))}
          placeholder={areas.data?.length ? undefined : 'No area yet'}
          hint="The VM gets an address of the area's subnet."
        />
      </div>
      <ChecksField
        label="Networks"
        name="networks"
        error={act.error}
        hint={networks.data?.length ? 'One private NIC per network.' : undefined}
        items={networks.data}
        chosen={nets}
        onChange={setNets}
        what="network"
        detail={(n) => `${n.subnet ?? ''}${n.vlan ? ` · VLAN ${n.vlan}` : ''}`}
        empty="No network in this workspace: the VM gets its public address only."
      />
      <SecurityGroupsField ws={ws} value={groups} onChange={setGroups} error={act.error} />
      <Field
        label="Root password"
        name="password"
        error={act.error}
        hint="Set in the guest by cloud-init; never shown again. Optional with an SSH key: without a password, password SSH is off."
      >
        {(p) => (
          <div className="input-group">
            <input
              className="input"
              {...p}
              type={showPw ? 'text' : 'password'}
              autoComplete="new-password"
              value={form.password}
              onChange={set('password')}
            />
            <button type="button" className="btn btn-ghost" onClick={() => setShowPw((s) => !s)}>
              {showPw ? 'Hide' : 'Show'}
            </button>
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => {
                setForm((f) => ({ ...f, password: randomPassword() }));
                setShowPw(true);
              }}
            >
              Generate
            </button>
          </div>
        )}
      </Field>
      <ChecksField
        label="SSH keys"
        name="ssh_keys"
        error={act.error}
        hint={keys.data?.length ? "Root's authorized keys." : undefined}
        items={keys.data}
        chosen={sshKeys}
        onChange={setSshKeys}
        what="key"
        detail={(k) => k.fingerprint}
        empty={
          <>
            No key yet: add one on the <Link to="/keys">SSH keys</Link> page.
          </>
        }
      />
      <Field
        label="User-data"
        name="user_data"
        error={act.error}
        hint="Optional: a #cloud-config document (16 KiB at most). The hostname, network and password are the platform's."
      >
        {(p) => (
          <textarea
            className="input mono"
            rows={5}
            {...p}
            value={userData}
            onChange={(e) => setUserData(e.target.value)}
            placeholder={'#cloud-config\npackages: [curl]'}
            spellCheck={false}
          />
        )}
      </Field>
    </FormDrawer>
  );
}

function randomPassword(): string {
  const abc = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => abc[b % abc.length]).join('');
}

export const fmtGiB = (g: number) => (g < 1 ? `${Math.round(g * 1024)} MiB` : `${g} GiB`);

// ---------- edit ----------
function EditVm({
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
  const networks = useResource(() => loadNetworks(ws), `networks:${ws}`);
  const toast = useToast();
  const [name, setName] = useState(vm.name);
  const [description, setDescription] = useState(vm.description);
  const [nets, setNets] = useState<string[]>(vm.networks);
  const act = useAction(async () => {
    const update: Record<string, unknown> = {};
    if (name !== vm.name) update.name = name;
    if (description !== vm.description) update.description = description;
    if ([...nets].sort().join() !== [...vm.networks].sort().join()) update.networks = nets;
    await ctl.send('PUT', 'vms', { owner: ws, name: vm.name, update_dict: update });
    toast('info', `Updating ${vm.name}…`);
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title={`Edit ${vm.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Save changes"
      fields={['name', 'description', 'networks']}
    >
      <TextField
        label="Name"
        name="name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={act.error}
      />
      <TextField
        label="Description"
        name="description"
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        error={act.error}
      />
      <ChecksField
        label="Networks"
        name="networks"
        error={act.error}
        hint="NICs are added or removed while the VM runs."
        items={networks.data}
        chosen={nets}
        onChange={setNets}
        what="network"
      />
    </FormDrawer>
  );
}

// ---------- detail ----------
export function VmPage({ ws, name }: { ws: string; name: string }) {
  const perms = usePerms(ws);
  const toast = useToast();
  const vm = useResource(() => inv.get<Vm>(`/${enc(ws)}/vms/${enc(name)}/`), `vm:${ws}:${name}`);
  const tasks = useResource(
    () =>
      ctl
        .get<{ tasks: Task[] }>(`/tasks/${enc(ws)}/?limit=200`)
        .then((r) => r.tasks.filter((t) => t.type === 'vm' && t.object === name)),
    `vmtasks:${ws}:${name}`,
  );
  const template = useResource(
    vm.data ? () => inv.get<Template>(`/templates/${enc(vm.data!.template)}/`) : undefined,
    `tpl:${vm.data?.template}`,
  );
  const [gone, setGone] = useState(false);
  const [editing, setEditing] = useState(false);
  const [resizing, setResizing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const room = useRoom();
  const reloadSoon = useDebounced(() => {
    vm.reload();
    tasks.reload();
  }, 300);
  useRoomEvents((m) => {
    if (m.kind === 'resync') return reloadSoon();
    const msg = m as RoomMessage;
    if (msg.type !== 'vm' || msg.object !== name) return;
    if (msg.state === 'deleted') setGone(true);
    else if (msg.state) vm.mutate((v) => ({ ...v, state: msg.state as Vm['state'] }));
    reloadSoon();
  });
  useInterval(
    reloadSoon,
    room.status !== 'live' && vm.data && isBusyVmState(vm.data.state) ? 4000 : undefined,
  );

  const v = vm.data;
  const busy = v ? isBusyVmState(v.state) : true;
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <Link to={wsPath(ws, 'vms')}>Virtual machines</Link> <Icon name="chevron" size={12} /> {name}
          </>
        }
        title={
          <span className="title-with-pill">
            {name} {v ? <StatePill state={gone ? 'X' : v.state} /> : null}
          </span>
        }
        subtitle={v?.description || undefined}
        actions={
          v && !gone ? (
            <>
              <Button
                icon="terminal"
                deniedBy={!perms.vm_can_edit && 'vm_can_edit'}
                onClick={() => navigate(wsPath(ws, `vms/${enc(name)}/console`))}
                data-testid="vm-console"
              >
                Console
              </Button>
              <PowerButtons
                ws={ws}
                vm={v}
                tasks={tasks.data}
                canEdit={perms.vm_can_edit}
                onAccepted={reloadSoon}
              />
              <Button
                icon="resize"
                deniedBy={!perms.vm_can_edit && 'vm_can_edit'}
                disabled={busy || Boolean(runningTask(tasks.data)) || (v.state !== 'U' && v.state !== 'D')}
                onClick={() => setResizing(true)}
                data-testid="vm-resize"
              >
                Resize
              </Button>
              <Button
                icon="edit"
                deniedBy={!perms.vm_can_edit && 'vm_can_edit'}
                disabled={busy}
                onClick={() => setEditing(true)}
              >
                Edit
              </Button>
              <Button
                variant="danger"
                icon="trash"
                deniedBy={!perms.vm_can_delete && 'vm_can_delete'}
                disabled={busy}
                onClick={() => setDeleting(true)}
              >
                Delete
              </Button>
            </>
          ) : undefined
        }
      />
      {gone ? (
        <div className="banner banner-info">
          This VM was deleted. <Link to={wsPath(ws, 'vms')}>Back to the list</Link>
        </div>
      ) : null}
      {vm.error?.status === 404 && !gone ? (
        <Empty icon="server" title={`No VM ${name}`}>
          <Link to={wsPath(ws, 'vms')}>Back to the list</Link>
        </Empty>
      ) : (
        <ErrorBanner error={vm.error} onRetry={vm.reload} />
      )}
      {!v && vm.loading ? <Loading /> : null}
      {v ? (
        <div className="grid-2">
          <Card title="Overview">
            <KeyValues
              items={[
                ['IP address', v.ip ? <code data-testid="vm-ip">{v.ip}</code> : null],
                [
                  'Host',
                  v.host ? (
                    <span data-testid="vm-host">{v.host}</span>
                  ) : (
                    <span className="muted">not placed yet</span>
                  ),
                ],
                ['Area', v.area],
                [
                  'Template',
                  template.data
                    ? `${v.template} · ${template.data.cpu} vCPU · ${fmtGiB(template.data.ram)} · ${fmtGiB(template.data.disk)} disk`
                    : v.template,
                ],
                ['Size', <span key="size" data-testid="vm-size">{`${v.cpu} vCPU · ${fmtGiB(v.ram)}`}</span>],
                ['State', <StatePill key="s" state={v.state} />],
              ]}
            />
          </Card>
          <Card title="Usage">
            <UsageChart source={`/vms/${enc(ws)}/${enc(name)}/`} title="CPU and memory" />
          </Card>
          <Card title="Networks">
            <Table
              columns={[
                { key: 'network', label: 'Network', render: (i) => i.network },
                {
                  key: 'ip',
                  label: 'IP',
                  render: (i) => (i.ip ? <code>{i.ip}</code> : <span className="muted">—</span>),
                },
                {
                  key: 'mac',
                  label: 'MAC',
                  render: (i) => (i.mac ? <code>{i.mac}</code> : <span className="muted">—</span>),
                },
              ]}
              rows={v.interfaces}
              rowKey={(i) => i.network}
              empty={<p className="muted pad">Public address only: the VM is on no private network.</p>}
            />
          </Card>
          <VmSnapshots
            ws={ws}
            vm={v}
            tasks={tasks.data}
            canEdit={perms.vm_can_edit}
            onAccepted={reloadSoon}
          />
          <Card title="Recent tasks">
            <TaskMiniList tasks={tasks.data} />
          </Card>
          <VmSecurityGroups
            ws={ws}
            vm={v}
            canEdit={perms.vm_can_edit}
            busy={busy || Boolean(runningTask(tasks.data))}
            onAccepted={reloadSoon}
          />
        </div>
      ) : null}
      {editing && v ? (
        <EditVm ws={ws} vm={v} onClose={() => setEditing(false)} onAccepted={reloadSoon} />
      ) : null}
      {resizing && v ? (
        <ResizeVm ws={ws} vm={v} onClose={() => setResizing(false)} onAccepted={reloadSoon} />
      ) : null}
      {deleting && v ? (
        <Confirm
          title={`Delete ${v.name}?`}
          body={<p>The VM is stopped and its disk removed.</p>}
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'vms', { owner: ws, name: v.name });
            toast('info', `Deleting ${v.name}…`);
            reloadSoon();
          }}
        />
      ) : null}
    </>
  );
}

const VERB: Record<string, string> = {
  POST: 'Create',
  PUT: 'Update',
  DELETE: 'Delete',
  POWER: 'Power',
  SNAPSHOT: 'Snapshot',
};

export function TaskMiniList({ tasks }: { tasks?: Task[] }) {
  if (!tasks) return <Loading />;
  if (!tasks.length) return <p className="muted pad">No task yet.</p>;
  return (
    <ul className="mini-tasks">
      {tasks.slice(0, 8).map((t) => (
        <li key={t.task_id}>
          <StatePill kind="task" state={t.status} />
          <span>
            <strong>{VERB[t.method] ?? t.method}</strong> <code className="muted">{t.stage}</code>
            {t.error ? <span className="error-text small">{t.error}</span> : null}
          </span>
          <span className="muted small">{timeAgo(t.created_at)}</span>
        </li>
      ))}
    </ul>
  );
}
