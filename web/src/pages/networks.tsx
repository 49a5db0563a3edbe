// Networks (a VLAN each, book chapter 6/11), routers and their interfaces (one IP per joined network).
// Every change goes to the controller; the room moves states on.
import { useState } from 'react';
import { ctl, enc, inv, type Network, type RoomMessage, type Router, type RouterInterface } from '../api.ts';
import { usePerms } from '../auth.tsx';
import { useDebounced, useInterval, useResource } from '../hooks.ts';
import { useRoom, useRoomEvents } from '../room.tsx';
import { Link, wsPath } from '../router.tsx';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  Form,
  FormDrawer,
  FormError,
  Icon,
  isBusyNetState,
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

/** A list that refetches on room messages about `types` (and after reconnections), polling when the room is down. */
function useLiveList<T>(key: string, load: () => Promise<T[]>, types: string[]) {
  const list = useResource(load, key);
  const room = useRoom();
  const reloadSoon = useDebounced(list.reload, 300);
  useRoomEvents((m) => {
    if (m.kind === 'resync' || types.includes(String((m as RoomMessage).type))) reloadSoon();
  });
  const busy =
    list.data?.some((x) => {
      const s = (x as { state?: unknown }).state;
      return typeof s === 'string' && isBusyNetState(s);
    }) ?? false;
  useInterval(list.reload, room.status !== 'live' && busy ? 4000 : undefined);
  return list;
}

export function NetworksPage({ ws }: { ws: string }) {
  const perms = usePerms(ws);
  const toast = useToast();
  const list = useLiveList(`networks:${ws}`, () => inv.list<Network>(`/${enc(ws)}/networks/`, 'networks'), [
    'network',
  ]);
  const [editing, setEditing] = useState<Network | 'new' | undefined>();
  const [deleting, setDeleting] = useState<Network | undefined>();
  return (
    <>
      <PageHeader
        title="Networks"
        subtitle="Private layer-2 networks: each is a VLAN on the hosts' private bridge, isolated from every other."
        actions={
          <Button
            variant="primary"
            icon="plus"
            deniedBy={!perms.network_can_add && 'network_can_add'}
            onClick={() => setEditing('new')}
            data-testid="create-network"
          >
            Create network
          </Button>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {!list.data && list.loading ? (
          <Loading />
        ) : (
          <Table
            columns={[
              { key: 'name', label: 'Name', render: (n) => <strong>{n.name}</strong> },
              { key: 'state', label: 'State', render: (n) => <StatePill kind="net" state={n.state} /> },
              {
                key: 'vlan',
                label: 'VLAN',
                render: (n) => (n.vlan ? <code>{n.vlan}</code> : <span className="muted">—</span>),
              },
              {
                key: 'subnet',
                label: 'Subnet',
                render: (n) => (n.subnet ? <code>{n.subnet}</code> : <span className="muted">—</span>),
              },
              {
                key: 'description',
                label: 'Description',
                render: (n) => n.description || <span className="muted">—</span>,
              },
              {
                key: 'actions',
                label: '',
                className: 'actions',
                render: (n) => (
                  <span className="row-actions">
                    <Button
                      variant="ghost"
                      icon="edit"
                      aria-label={`Edit ${n.name}`}
                      deniedBy={!perms.network_can_edit && 'network_can_edit'}
                      disabled={isBusyNetState(n.state)}
                      onClick={() => setEditing(n)}
                    />
                    <Button
                      variant="ghost"
                      icon="trash"
                      aria-label={`Delete ${n.name}`}
                      deniedBy={!perms.network_can_delete && 'network_can_delete'}
                      disabled={isBusyNetState(n.state)}
                      onClick={() => setDeleting(n)}
                    />
                  </span>
                ),
              },
            ]}
            rows={list.data ?? []}
            rowKey={(n) => n.name}
            rowProps={(n) => ({ 'data-testid': `net-row-${n.name}`, 'data-state': n.state })}
            empty={
              <Empty icon="network" title="No networks yet">
                VMs on the same network reach each other privately.
              </Empty>
            }
          />
        )}
      </Card>
      {editing ? (
        <NetworkForm
          ws={ws}
          network={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onAccepted={list.reload}
        />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete network ${deleting.name}?`}
          body={<p>VMs and router interfaces must leave it first.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'networks', { owner: ws, name: deleting.name });
            toast('info', `Deleting ${deleting.name}…`);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

function NetworkForm({
  ws,
  network,
  onClose,
  onAccepted,
}: {
  ws: string;
  network?: Network;
  onClose: () => void;
  onAccepted: () => void;
}) {
  const toast = useToast();
  const [name, setName] = useState(network?.name ?? '');
  const [description, setDescription] = useState(network?.description ?? '');
  const [subnet, setSubnet] = useState('');
  const act = useAction(async () => {
    if (network) {
      const update: Record<string, string> = {};
      if (name !== network.name) update.name = name;
      if (description !== network.description) update.description = description;
      await ctl.send('PUT', 'networks', { owner: ws, name: network.name, update_dict: update });
      toast('info', `Updating ${network.name}…`);
    } else {
      await ctl.send('POST', 'networks', { owner: ws, name, description, ...(subnet ? { subnet } : {}) });
      toast('info', `Creating network ${name}…`);
    }
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title={network ? `Edit ${network.name}` : 'Create a network'}
      onClose={onClose}
      action={act}
      submitLabel={network ? 'Save changes' : 'Create network'}
      submitTestId="network-submit"
      fields={['name', 'description', 'subnet']}
    >
      <TextField
        label="Name"
        name="name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={act.error}
        placeholder="e.g. backend"
        autoFocus
      />
      <TextField
        label="Description"
        name="description"
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        error={act.error}
        placeholder="optional"
      />
      {network ? null : (
        <TextField
          label="Subnet"
          name="subnet"
          value={subnet}
          onChange={(e) => setSubnet(e.target.value)}
          error={act.error}
          placeholder="e.g. 192.168.10.0/24 (optional)"
          hint="For router interfaces and addresses on this network."
        />
      )}
    </FormDrawer>
  );
}

// ---------- routers ----------
export function RoutersPage({ ws }: { ws: string }) {
  const perms = usePerms(ws);
  const toast = useToast();
  const list = useLiveList(`routers:${ws}`, () => inv.list<Router>(`/${enc(ws)}/routers/`, 'routers'), [
    'router',
    'interface',
  ]);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Router | undefined>();
  return (
    <>
      <PageHeader
        title="Routers"
        subtitle="Routers join networks at layer 3: one interface, with an address, per network."
        actions={
          <Button
            variant="primary"
            icon="plus"
            deniedBy={!perms.router_can_add && 'router_can_add'}
            onClick={() => setCreating(true)}
            data-testid="create-router"
          >
            Create router
          </Button>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {!list.data && list.loading ? (
          <Loading />
        ) : (
          <Table
            columns={[
              {
                key: 'name',
                label: 'Name',
                render: (r) => (
                  <Link to={wsPath(ws, `routers/${enc(r.name)}`)} className="strong-link">
                    {r.name}
                  </Link>
                ),
              },
              { key: 'state', label: 'State', render: (r) => <StatePill kind="net" state={r.state} /> },
              { key: 'host', label: 'Host', render: (r) => r.host ?? <span className="muted">—</span> },
              {
                key: 'actions',
                label: '',
                className: 'actions',
                render: (r) => (
                  <span className="row-actions">
                    <Button
                      variant="ghost"
                      icon="trash"
                      aria-label={`Delete ${r.name}`}
                      deniedBy={!perms.router_can_delete && 'router_can_delete'}
                      disabled={isBusyNetState(r.state)}
                      onClick={() => setDeleting(r)}
                    />
                  </span>
                ),
              },
            ]}
            rows={list.data ?? []}
            rowKey={(r) => r.name}
            rowProps={(r) => ({ 'data-testid': `router-row-${r.name}`, 'data-state': r.state })}
            empty={
              <Empty icon="router" title="No routers yet">
                A router lets VMs of different networks reach each other.
              </Empty>
            }
          />
        )}
      </Card>
      {creating ? <CreateRouter ws={ws} onClose={() => setCreating(false)} onAccepted={list.reload} /> : null}
      {deleting ? (
        <Confirm
          title={`Delete router ${deleting.name}?`}
          body={<p>Its interfaces go with it.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'routers', { owner: ws, name: deleting.name });
            toast('info', `Deleting ${deleting.name}…`);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

function CreateRouter({
  ws,
  onClose,
  onAccepted,
}: {
  ws: string;
  onClose: () => void;
  onAccepted: () => void;
}) {
  const toast = useToast();
  const [name, setName] = useState('');
  const act = useAction(async () => {
    await ctl.send('POST', 'routers', { owner: ws, name });
    toast('info', `Creating router ${name}…`);
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title="Create a router"
      onClose={onClose}
      action={act}
      submitLabel="Create router"
      fields={['name']}
    >
      <TextField
        label="Name"
        name="name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={act.error}
        placeholder="e.g. edge"
        autoFocus
      />
    </FormDrawer>
  );
}

export function RouterPage({ ws, name }: { ws: string; name: string }) {
  const perms = usePerms(ws);
  const toast = useToast();
  const router = useResource(
    () => inv.get<Router>(`/${enc(ws)}/routers/${enc(name)}/`),
    `router:${ws}:${name}`,
  );
  const ifaces = useLiveList(
    `ifaces:${ws}:${name}`,
    () =>
      inv
        .get<{ interfaces: RouterInterface[] }>(`/${enc(ws)}/routers/${enc(name)}/interfaces/`)
        .then((r) => r.interfaces),
    ['interface', 'router'],
  );
  const networks = useResource(
    () => inv.list<Network>(`/${enc(ws)}/networks/`, 'networks'),
    `networks:${ws}`,
  );
  const [network, setNetwork] = useState('');
  const [ip, setIp] = useState('');
  const [removing, setRemoving] = useState<string | undefined>();
  useRoomEvents((m) => {
    if ((m as RoomMessage).type === 'router' && (m as RoomMessage).object === name) router.reload();
  });
  const free = (networks.data ?? []).filter((n) => !ifaces.data?.some((i) => i.network === n.name));
  const target = network && free.some((n) => n.name === network) ? network : (free[0]?.name ?? '');
  const chosen = networks.data?.find((n) => n.name === target);
  const add = useAction(async () => {
    await ctl.send('POST', 'interfaces', { owner: ws, router: name, network: target, ip });
    toast('info', `Adding an interface on ${target}…`);
    setIp('');
  });
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <Link to={wsPath(ws, 'routers')}>Routers</Link> <Icon name="chevron" size={12} /> {name}
          </>
        }
        title={
          <span className="title-with-pill">
            {name} {router.data ? <StatePill kind="net" state={router.data.state} /> : null}
          </span>
        }
      />
      <ErrorBanner error={router.error ?? ifaces.error} onRetry={router.reload} />
      <div className="grid-2">
        <Card title="Interfaces">
          <Table
            columns={[
              { key: 'network', label: 'Network', render: (i) => <strong>{i.network}</strong> },
              { key: 'ip', label: 'Address', render: (i) => <code>{i.ip}</code> },
              { key: 'vlan', label: 'VLAN', render: (i) => (i.vlan ? <code>{i.vlan}</code> : '—') },
              {
                key: 'actions',
                label: '',
                className: 'actions',
                render: (i) => (
                  <Button
                    variant="ghost"
                    icon="trash"
                    aria-label={`Remove interface on ${i.network}`}
                    deniedBy={!perms.router_can_edit && 'router_can_edit'}
                    onClick={() => setRemoving(i.network)}
                  />
                ),
              },
            ]}
            rows={ifaces.data ?? []}
            rowKey={(i) => i.network}
            empty={<p className="muted pad">No interface yet.</p>}
          />
        </Card>
        <Card title="Add an interface">
          <Form onSubmit={() => void add.run()}>
            <FormError error={add.error} fields={['network', 'ip']} />
            <SelectField
              label="Network"
              name="network"
              value={target}
              onChange={(e) => setNetwork(e.target.value)}
              error={add.error}
              options={free.map((n) => ({
                value: n.name,
                label: `${n.name}${n.subnet ? ` (${n.subnet})` : ''}`,
              }))}
              placeholder={free.length ? undefined : 'Every network has an interface'}
              disabled={!perms.router_can_edit}
            />
            <TextField
              label="Address"
              name="ip"
              value={ip}
              onChange={(e) => setIp(e.target.value)}
              error={add.error}
              placeholder={chosen?.subnet ? `an address of ${chosen.subnet}` : 'e.g. 192.168.10.1'}
              disabled={!perms.router_can_edit}
            />
            <Button
              type="submit"
              variant="primary"
              icon="plus"
              busy={add.busy}
              disabled={!target}
              deniedBy={!perms.router_can_edit && 'router_can_edit'}
            >
              Add interface
            </Button>
          </Form>
          {router.data ? <KeyValues items={[['Host', router.data.host]]} /> : null}
        </Card>
      </div>
      {removing ? (
        <Confirm
          title={`Remove the interface on ${removing}?`}
          body={
            <p>
              Router {name} stops routing for network {removing}.
            </p>
          }
          confirmLabel="Remove"
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'interfaces', { owner: ws, router: name, network: removing });
            toast('info', `Removing the interface on ${removing}…`);
          }}
        />
      ) : null}
    </>
  );
}
