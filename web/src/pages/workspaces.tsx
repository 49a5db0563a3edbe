// Workspaces (book chapter 6: "a collection of users and resources which functions like an organization"):
// pick one, create one (its creator holds every permission), delete one (user_can_delete).
import { useState } from 'react';
import { ALL_PERMS, inv, enc, type Perms } from '../api.ts';
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

  return (
    <>
      <PageHeader
        title="Workspaces"
        subtitle="Each workspace holds its own members, virtual machines, networks and routers."
      />
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
                    deniedBy={!perms?.user_can_delete && 'user_can_delete'}
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
              Its members lose access and its records (VMs, networks, routers) are deleted from the inventory.
              Delete the VMs first to free their hosts.
            </p>
          }
          typeToConfirm={deleting}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await inv.del(`/workspaces/${enc(deleting)}/`);
            await refresh();
            toast('ok', `Workspace ${deleting} deleted`);
          }}
        />
      ) : null}
    </>
  );
}

function summary(p: Perms): string {
  const all = Object.values(p).every(Boolean);
  if (all) return 'full access';
  const can = (['vm', 'network', 'router', 'user'] as const).filter(
    (k) => p[`${k}_can_add`] || p[`${k}_can_edit`] || p[`${k}_can_delete`],
  );
  return can.length ? `can change ${can.map((k) => `${k}s`).join(', ')}` : 'read only';
}
