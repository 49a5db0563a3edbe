// A VM's security groups (issue 17): the picker of the create form, and the card of the VM's page that changes
// them (PUT /vms/ with update_dict.security_groups, a task that puts the new rules on the VM's ports).
import { useState } from 'react';
import { ctl, DEFAULT_GROUP, type ApiError, type Vm } from '../api.ts';
import { useResource } from '../hooks.ts';
import { Link, wsPath } from '../router.tsx';
import { Button, Card, ChecksField, FormDrawer, useAction, useToast } from '../ui.tsx';
import { loadGroups } from './secgroups.tsx';

/** Checkboxes of the workspace's groups; `value` undefined: the default group (what the API does then). */
export function SecurityGroupsField({
  ws,
  value,
  onChange,
  error,
  name = 'security_groups',
}: {
  ws: string;
  value?: string[];
  onChange: (groups: string[]) => void;
  error?: ApiError;
  name?: string;
}) {
  const groups = useResource(() => loadGroups(ws), `sgs:${ws}`);
  const chosen = value ?? (groups.data?.some((g) => g.name === DEFAULT_GROUP) ? [DEFAULT_GROUP] : []);
  return (
    <ChecksField
      label="Security groups"
      name={name}
      error={error}
      hint="Their rules say what may reach the VM and what it may reach; in no group, nothing."
      items={groups.data}
      chosen={chosen}
      onChange={onChange}
      what="security group"
      empty={
        <>
          No group yet: make one on the <Link to={wsPath(ws, 'security-groups')}>Security groups</Link> page.
        </>
      }
    />
  );
}

/** The VM page's card: its groups, and a button that changes them. */
export function VmSecurityGroups({
  ws,
  vm,
  canEdit,
  busy,
  onAccepted,
}: {
  ws: string;
  vm: Vm;
  canEdit: boolean;
  busy: boolean;
  onAccepted: () => void;
}) {
  const [editing, setEditing] = useState(false);
  return (
    <Card
      title="Security groups"
      actions={
        <Button
          icon="edit"
          deniedBy={!canEdit && 'vm_can_edit'}
          disabled={busy}
          onClick={() => setEditing(true)}
          data-testid="vm-sg-edit"
        >
          Change
        </Button>
      }
    >
      <div className="pad" data-testid="vm-sgs" data-groups={vm.security_groups.join(' ')}>
        {vm.security_groups.length ? (
          vm.security_groups.map((g) => (
            <Link key={g} to={wsPath(ws, 'security-groups')} className="tag">
              {g}
            </Link>
          ))
        ) : (
          <span className="muted">In no group: nothing reaches this VM, and it reaches nothing.</span>
        )}
      </div>
      {editing ? (
        <EditVmGroups ws={ws} vm={vm} onClose={() => setEditing(false)} onAccepted={onAccepted} />
      ) : null}
    </Card>
  );
}

function EditVmGroups({
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
  const [groups, setGroups] = useState<string[]>(vm.security_groups);
  const act = useAction(async () => {
    await ctl.send('PUT', 'vms', { owner: ws, name: vm.name, update_dict: { security_groups: groups } });
    toast('info', `Changing the security groups of ${vm.name}…`);
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title={`Security groups of ${vm.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Save"
      submitTestId="vm-sg-submit"
      fields={['security_groups']}
    >
      <p className="muted">The new rules apply to the running VM within seconds.</p>
      <SecurityGroupsField ws={ws} value={groups} onChange={setGroups} error={act.error} />
    </FormDrawer>
  );
}
