// Members of a workspace and their permission flags (book chapter 6 "CustomUsers"). Who may add, edit or
// remove members is itself a flag (user_can_*), read from the member list (authoritative) for the caller.
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
} from '../api.ts';
import { useAuth } from '../auth.tsx';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  Confirm,
  Drawer,
  ErrorBanner,
  Form,
  FormError,
  Loading,
  PageHeader,
  SelectField,
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
  who,
}: {
  value: Perms;
  onChange?: (p: Perms) => void;
  disabled?: boolean;
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
                  disabled={disabled}
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
  const { refresh } = useAuth();
  const toast = useToast();
  const [draft, setDraft] = useState<Perms>(pick(m));
  const dirty = PERMISSIONS.some((p) => draft[p] !== Boolean(m[p]));
  const save = useAction(async () => {
    await inv.put(`/${enc(ws)}/users/${enc(m.name)}/`, draft);
    if (me) await refresh();
    toast('ok', `Permissions of ${m.name} saved`);
    onSaved();
  });
  return (
    <div className="member" data-testid={`member-${m.name}`}>
      <div className="member-head">
        <span className="avatar">{m.name.slice(0, 1).toUpperCase()}</span>
        <div>
          <strong>{m.name}</strong> {me ? <span className="badge">you</span> : null}
          <div className="muted small">{m.email}</div>
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
          <Button
            variant="ghost"
            icon="trash"
            aria-label={`Remove ${m.name}`}
            deniedBy={!mine.user_can_delete && 'user_can_delete'}
            onClick={onRemove}
          />
        </div>
      </div>
      <FlagGrid who={m.name} value={draft} onChange={setDraft} disabled={!mine.user_can_edit} />
      <FormError error={save.error} fields={[]} />
    </div>
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
            Add member
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
      {adding ? <AddMember ws={ws} onClose={() => setAdding(false)} onAdded={list.reload} /> : null}
      {removing ? (
        <Confirm
          title={`Remove ${removing}?`}
          body={
            <p>
              {removing} loses access to workspace {ws}.
            </p>
          }
          confirmLabel="Remove"
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

function AddMember({ ws, onClose, onAdded }: { ws: string; onClose: () => void; onAdded: () => void }) {
  const toast = useToast();
  const [name, setName] = useState('');
  const [preset, setPreset] = useState('viewer');
  const [perms, setPerms] = useState<Perms>(PRESETS.viewer.perms);
  const act = useAction(async () => {
    await inv.post(`/${enc(ws)}/users/`, { name, ...perms });
    toast('ok', `${name} added to ${ws}`);
    onAdded();
    onClose();
  });
  return (
    <Drawer
      title="Add a member"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button
            variant="primary"
            busy={act.busy}
            onClick={() => void act.run()}
            data-testid="add-member-submit"
          >
            Add member
          </Button>
        </>
      }
    >
      <Form onSubmit={() => void act.run()}>
        <FormError error={act.error} fields={['name']} />
        <TextField
          label="Username"
          name="name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={act.error}
          hint="The account must exist (signed up)."
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
          value={perms}
          onChange={(p) => {
            setPerms(p);
            setPreset('custom');
          }}
        />
      </Form>
    </Drawer>
  );
}
