// Members of a workspace and their permission flags (book chapter 6 "CustomUsers"). Who may invite, edit or
// remove members is itself a flag (user_can_*), read from the member list (authoritative) for the caller.
// The rules (issue 14.3): nobody edits its own flags, a member grants or revokes only flags it holds, the
// owner holds every flag and is removed only by a hand-over; anyone may leave. Adding a member is inviting
// it: it becomes a member once it accepts (on its workspaces page).
import { useMemo, useState } from 'react';
import {
  ALL_PERMS,
  enc,
  inv,
  NO_PERMS,
  PERMISSIONS,
  type Member,
  type Permission,
  type Perms,
  type WorkspaceInvitation,
} from '../api.ts';
import { useAuth } from '../auth.tsx';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  Confirm,
  ErrorBanner,
  FormDrawer,
  FormError,
  Loading,
  PageHeader,
  SelectField,
  Table,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';

const GROUPS = ['vm', 'network', 'router', 'user'] as const;
const ACTIONS = ['add', 'edit', 'delete'] as const;
const GROUP_LABEL = { vm: 'VMs', network: 'Networks', router: 'Routers', user: 'Members' };

const PRESETS: Record<string, { label: string; perms: Perms }> = {
  viewer: { label: 'Viewer: sees everything, changes nothing', perms: NO_PERMS },
  developer: {
    label: 'Developer: VMs, networks and routers',
    perms: { ...ALL_PERMS, user_can_add: false, user_can_edit: false, user_can_delete: false },
  },
  owner: { label: 'Owner: everything, members too', perms: ALL_PERMS },
};

const pick = (m: Perms): Perms => Object.fromEntries(PERMISSIONS.map((p) => [p, Boolean(m[p])])) as Perms;

function FlagGrid({
  value,
  onChange,
  disabled,
  held,
  who,
}: {
  value: Perms;
  onChange?: (p: Perms) => void;
  disabled?: boolean;
  /** The caller's own flags: only those may be turned on or off. */
  held?: Perms;
  who: string;
}) {
  return (
    <div className="flags">
      {GROUPS.map((g) => (
        <div key={g} className="flag-group">
          <span className="flag-group-label">{GROUP_LABEL[g]}</span>
          {ACTIONS.map((a) => {
            const p: Permission = `${g}_can_${a}`;
            return (
              <label key={p} className={`flag${value[p] ? ' on' : ''}`} title={p}>
                <input
                  type="checkbox"
                  aria-label={`${who} ${p}`}
                  name={p}
                  checked={value[p]}
                  disabled={disabled || (held && !held[p])}
                  onChange={(e) => onChange?.({ ...value, [p]: e.target.checked })}
                />
                {a}
              </label>
            );
          })}
        </div>
      ))}
    </div>
  );
}

function MemberRow({
  ws,
  m,
  mine,
  me,
  onSaved,
  onRemove,
}: {
  ws: string;
  m: Member;
  mine: Perms;
  me: boolean;
  onSaved: () => void;
  onRemove: () => void;
}) {
  const toast = useToast();
  const [draft, setDraft] = useState<Perms>(pick(m));
  const dirty = PERMISSIONS.some((p) => draft[p] !== Boolean(m[p]));
  const save = useAction(async () => {
    await inv.put(`/${enc(ws)}/users/${enc(m.name)}/`, draft);
    toast('ok', `Permissions of ${m.name} saved`);
    onSaved();
  });
  // Nobody edits its own flags, nor the owner's; a member removes only members holding no more than it.
  const removable = me
    ? !m.owner
    : !m.owner && mine.user_can_delete && PERMISSIONS.every((p) => !m[p] || mine[p]);
  return (
    <div className="member" data-testid={`member-${m.name}`}>
      <div className="member-head">
        <span className="avatar">{m.name.slice(0, 1).toUpperCase()}</span>
        <div>
          <strong>{m.name}</strong> {me ? <span className="badge">you</span> : null}{' '}
          {m.owner ? <span className="badge">owner</span> : null}
        </div>
        <div className="member-actions">
          {dirty ? (
            <>
              <Button variant="ghost" onClick={() => setDraft(pick(m))}>
                Reset
              </Button>
              <Button variant="primary" busy={save.busy} onClick={() => void save.run()}>
                Save
              </Button>
            </>
          ) : null}
          {m.owner ? null : (
            <Button
              variant="ghost"
              icon={me ? undefined : 'trash'}
              aria-label={me ? `Leave ${ws}` : `Remove ${m.name}`}
              deniedBy={!removable && 'user_can_delete and every flag it holds'}
              onClick={onRemove}
            >
              {me ? 'Leave' : null}
            </Button>
          )}
        </div>
      </div>
      <FlagGrid
        who={m.name}
        value={draft}
        onChange={setDraft}
        held={mine}
        disabled={!mine.user_can_edit || me || m.owner}
      />
      <FormError error={save.error} fields={[]} />
    </div>
  );
}

function Invitations({ ws, mine, version }: { ws: string; mine: Perms; version: number }) {
  const toast = useToast();
  const list = useResource(
    mine.user_can_add
      ? () =>
          inv
            .get<{ invitations: WorkspaceInvitation[] }>(`/${enc(ws)}/invitations/`)
            .then((r) => r.invitations)
      : undefined,
    `invitations:${ws}:${version}`,
  );
  if (!mine.user_can_add || !list.data?.length) return null;
  return (
    <Card title="Invitations waiting for an answer">
      <Table
        rows={list.data}
        rowKey={(i) => i.name}
        rowProps={(i) => ({ 'data-testid': `invitation-${i.name}` })}
        columns={[
          { key: 'name', label: 'Name', render: (i) => i.name },
          { key: 'by', label: 'Invited by', render: (i) => i.invited_by ?? '-' },
          {
            key: 'cancel',
            label: '',
            render: (i) => (
              <Button
                variant="ghost"
                aria-label={`Cancel the invitation of ${i.name}`}
                onClick={() =>
                  void inv.del(`/${enc(ws)}/invitations/${enc(i.name)}/`).then(() => {
                    toast('ok', `Invitation of ${i.name} cancelled`);
                    list.reload();
                  })
                }
              >
                Cancel
              </Button>
            ),
          },
        ]}
      />
    </Card>
  );
}

export function MembersPage({ ws }: { ws: string }) {
  const { claims, refresh } = useAuth();
  const toast = useToast();
  const list = useResource(
    () => inv.get<{ users: Member[] }>(`/${enc(ws)}/users/`).then((r) => r.users),
    `members:${ws}`,
  );
  const [adding, setAdding] = useState(false);
  const [invited, setInvited] = useState(0);
  const [removing, setRemoving] = useState<string | undefined>();
  const mine = useMemo<Perms>(() => {
    if (claims?.admin) return ALL_PERMS;
    const row = list.data?.find((u) => u.name === claims?.username);
    return row ? pick(row) : (claims?.workspaces[ws] ?? NO_PERMS);
  }, [list.data, claims, ws]);

  return (
    <>
      <PageHeader
        title="Members"
        subtitle="Who belongs to this workspace and what each member may change."
        actions={
          <Button
            variant="primary"
            icon="plus"
            deniedBy={!mine.user_can_add && 'user_can_add'}
            onClick={() => setAdding(true)}
            data-testid="add-member"
          >
            Invite a member
          </Button>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {!list.data && list.loading ? <Loading /> : null}
      <Card>
        <div className="members">
          {list.data?.map((m) => (
            <MemberRow
              key={`${m.name}:${PERMISSIONS.map((p) => (m[p] ? 1 : 0)).join('')}`}
              ws={ws}
              m={m}
              mine={mine}
              me={m.name === claims?.username}
              onSaved={list.reload}
              onRemove={() => setRemoving(m.name)}
            />
          ))}
        </div>
      </Card>
      <Invitations ws={ws} mine={mine} version={invited} />
      {adding ? (
        <AddMember
          ws={ws}
          mine={mine}
          onClose={() => setAdding(false)}
          onAdded={() => setInvited((n) => n + 1)}
        />
      ) : null}
      {removing ? (
        <Confirm
          title={removing === claims?.username ? `Leave ${ws}?` : `Remove ${removing}?`}
          body={
            <p>
              {removing === claims?.username ? 'You lose' : `${removing} loses`} access to workspace {ws}.
            </p>
          }
          confirmLabel={removing === claims?.username ? 'Leave' : 'Remove'}
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await inv.del(`/${enc(ws)}/users/${enc(removing)}/`);
            if (removing === claims?.username) await refresh();
            toast('ok', `${removing} removed`);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

function AddMember({
  ws,
  mine,
  onClose,
  onAdded,
}: {
  ws: string;
  mine: Perms;
  onClose: () => void;
  onAdded: () => void;
}) {
  const toast = useToast();
  const [name, setName] = useState('');
  const [preset, setPreset] = useState('viewer');
  const [perms, setPerms] = useState<Perms>(PRESETS.viewer.perms);
  const act = useAction(async () => {
    // Only flags the inviter holds can be given.
    const given = Object.fromEntries(PERMISSIONS.map((p) => [p, perms[p] && mine[p]]));
    await inv.post(`/${enc(ws)}/users/`, { name, ...given });
    toast('ok', `${name} invited to ${ws}: a member once they accept`);
    onAdded();
    onClose();
  });
  return (
    <FormDrawer
      title="Invite a member"
      onClose={onClose}
      action={act}
      submitLabel="Invite"
      submitTestId="add-member-submit"
      fields={['name']}
    >
      <TextField
        label="Username"
        name="name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={act.error}
        hint="They see the invitation on their workspaces page and accept it."
        autoFocus
      />
      <SelectField
        label="Role"
        name="preset"
        value={preset}
        options={[
          ...Object.entries(PRESETS).map(([value, p]) => ({ value, label: p.label })),
          { value: 'custom', label: 'Custom' },
        ]}
        onChange={(e) => {
          setPreset(e.target.value);
          if (PRESETS[e.target.value]) setPerms(PRESETS[e.target.value].perms);
        }}
      />
      <FlagGrid
        who="new member"
        held={mine}
        value={perms}
        onChange={(p) => {
          setPerms(p);
          setPreset('custom');
        }}
      />
    </FormDrawer>
  );
}
