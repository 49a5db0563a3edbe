// Workspaces (book chapter 6: "a collection of users and resources which functions like an organization"):
// pick one, create one (its creator owns it and holds every permission), answer invitations to others.
import { useState } from 'react';
import { ALL_PERMS, ctl, inv, enc, type MyInvitation, type Perms } from '../api.ts';
import { useResource } from '../hooks.ts';
import { useAuth } from '../auth.tsx';
import { useWorkspaces } from '../layout.tsx';
import { Link, navigate, wsPath } from '../router.tsx';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  Form,
  FormError,
  Icon,
  Loading,
  PageHeader,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';

export function WorkspacesPage() {
  const { claims, refresh } = useAuth();
  const list = useWorkspaces();
  const toast = useToast();
  const [name, setName] = useState('');
  const [deleting, setDeleting] = useState<string | undefined>();
  const create = useAction(async () => {
    await inv.post('/workspaces/', { name });
    await refresh(); // the new workspace's permissions come with a fresh token
    toast('ok', `Workspace ${name} created`);
    navigate(wsPath(name, 'vms'));
  });
  const permsIn = (ws: string): Perms | undefined => (claims?.admin ? ALL_PERMS : claims?.workspaces[ws]);
  const owns = (ws: string) => Boolean(claims?.admin || claims?.owns.includes(ws));
  const invitations = useResource(
    () => inv.get<{ invitations: MyInvitation[] }>('/invitations/').then((r) => r.invitations),
    `my-invitations:${claims?.username}`,
  );
  const answer = async (ws: string, accept: boolean) => {
    if (accept) await inv.post(`/invitations/${enc(ws)}/`, undefined);
    else await inv.del(`/invitations/${enc(ws)}/`);
    await refresh();
    invitations.reload();
    list.reload();
    toast('ok', accept ? `You joined ${ws}` : `Invitation to ${ws} declined`);
  };

  return (
    <>
      <PageHeader
        title="Workspaces"
        subtitle="Each workspace holds its own members, virtual machines, networks and routers."
      />
      {invitations.data?.length ? (
        <Card title="Invitations">
          <ul className="ws-list">
            {invitations.data.map((i) => (
              <li key={i.workspace} className="ws-item" data-testid={`my-invitation-${i.workspace}`}>
                <span>
                  <strong>{i.workspace}</strong>
                  <span className="muted small">
                    {i.invited_by ? `from ${i.invited_by}, ` : ''}
                    {summary(i)}
                  </span>
                </span>
                <Button variant="primary" onClick={() => void answer(i.workspace, true)}>
                  Accept
                </Button>
                <Button variant="ghost" onClick={() => void answer(i.workspace, false)}>
                  Decline
                </Button>
              </li>
            ))}
          </ul>
        </Card>
      ) : null}
      <div className="grid-2">
        <Card title="Your workspaces">
          <ErrorBanner error={list.error} onRetry={list.reload} />
          {!list.data && list.loading ? <Loading /> : null}
          {list.data && list.data.length === 0 ? (
            <Empty icon="grid" title="No workspace yet">
              Create your first workspace to start creating virtual machines.
            </Empty>
          ) : null}
          <ul className="ws-list">
            {list.data?.map((ws) => {
              const perms = permsIn(ws);
              return (
                <li key={ws} className="ws-item" data-testid={`ws-${ws}`}>
                  <Link to={wsPath(ws, 'vms')} className="ws-link">
                    <span className="ws-avatar">{ws.slice(0, 2).toUpperCase()}</span>
                    <span>
                      <strong>{ws}</strong>
                      <span className="muted small">{perms ? summary(perms) : 'member'}</span>
                    </span>
                    <Icon name="chevron" size={16} />
                  </Link>
                  <Button
                    variant="ghost"
                    icon="trash"
                    aria-label={`Delete workspace ${ws}`}
                    deniedBy={!owns(ws) && 'the owner'}
                    onClick={() => setDeleting(ws)}
                  />
                </li>
              );
            })}
          </ul>
        </Card>
        <Card title="Create a workspace">
          <Form onSubmit={() => void create.run()}>
            <FormError error={create.error} fields={['name']} />
            <TextField
              label="Name"
              name="name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              error={create.error}
              placeholder="e.g. team-web"
              hint="1-64 letters, digits, . _ -"
            />
            <Button type="submit" variant="primary" icon="plus" busy={create.busy}>
              Create workspace
            </Button>
          </Form>
        </Card>
      </div>
      {deleting ? (
        <Confirm
          title={`Delete workspace ${deleting}?`}
          body={
            <p>
              A task deletes its VMs (domains, disks and addresses), routers and networks (their namespaces
              and VLANs), then the workspace itself; its members lose access. Follow it under Tasks.
            </p>
          }
          typeToConfirm={deleting}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await ctl.send('DELETE', 'workspaces', { owner: deleting });
            await refresh();
            toast('ok', `Workspace ${deleting} is being deleted`);
          }}
        />
      ) : null}
    </>
  );
}

function summary(p: Perms | MyInvitation): string {
  const all = (['vm', 'network', 'router', 'user'] as const).every(
    (k) => p[`${k}_can_add`] && p[`${k}_can_edit`] && p[`${k}_can_delete`],
  );
  if (all) return 'full access';
  const can = (['vm', 'network', 'router', 'user'] as const).filter(
    (k) => p[`${k}_can_add`] || p[`${k}_can_edit`] || p[`${k}_can_delete`],
  );
  return can.length ? `can change ${can.map((k) => `${k}s`).join(', ')}` : 'read only';
}
