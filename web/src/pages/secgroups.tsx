// Security groups of a workspace (issue 17): named sets of rules its VMs' NICs belong to. Every change is a
// controller task (POST/PUT/DELETE /security_groups/) that puts the rules on the hosts; its progress shows
// beside the group, the room moves it on.
import { useState } from 'react';
import {
  ctl,
  DIRECTIONS,
  enc,
  inv,
  PROTOCOLS,
  type ApiError,
  type RoomMessage,
  type SecurityGroup,
  type SgRule,
} from '../api.ts';
import { usePerms } from '../auth.tsx';
import { useDebounced, useResource } from '../hooks.ts';
import { useRoomEvents } from '../room.tsx';
import { hasEnded, useTaskWatch, type Watched } from '../task-watch.ts';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  errorFor,
  FormDrawer,
  Icon,
  Loading,
  PageHeader,
  StatePill,
  Table,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';

export const loadGroups = (ws: string) =>
  inv.list<SecurityGroup>(`/${enc(ws)}/security_groups/`, 'security_groups');

/** A rule in words: "tcp 22-25 from 10.0.0.0/8". */
export function ruleText(r: SgRule): string {
  const ports =
    r.port_min === undefined && r.port_max === undefined
      ? ''
      : r.port_max === undefined || r.port_max === r.port_min
        ? ` ${r.port_min ?? r.port_max}`
        : ` ${r.port_min ?? 1}-${r.port_max}`;
  const remote = r.remote_group ? `group ${r.remote_group}` : (r.remote_cidr ?? 'anywhere');
  return `${r.protocol}${ports} ${r.direction === 'ingress' ? 'from' : 'to'} ${remote}`;
}

/** The task of a group, as a pill and its stage. */
export function TaskBadge({ task, testId }: { task?: Watched; testId?: string }) {
  if (!task) return null;
  return (
    <span className="task-badge" data-testid={testId} data-status={task.status} data-task={task.task_id}>
      <StatePill kind="task" state={task.status} />
      {!hasEnded(task) && task.stage ? <code className="muted small">{task.stage}</code> : null}
      {task.error ? <span className="error-text small">{task.error}</span> : null}
    </span>
  );
}

export function SecurityGroupsPage({ ws }: { ws: string }) {
  const perms = usePerms(ws);
  const toast = useToast();
  const list = useResource(() => loadGroups(ws), `sgs:${ws}`);
  const reloadSoon = useDebounced(list.reload, 300);
  const watch = useTaskWatch(() => list.reload());
  useRoomEvents((m) => {
    if (m.kind === 'resync' || (m as RoomMessage).type === 'security_group') reloadSoon();
  });
  const [creating, setCreating] = useState(false);
  const [adding, setAdding] = useState<SecurityGroup | undefined>();
  const [deleting, setDeleting] = useState<SecurityGroup | undefined>();
  const [removing, setRemoving] = useState<{ group: SecurityGroup; index: number } | undefined>();
  const busy = (g: string) => Boolean(watch.tasks[g] && !hasEnded(watch.tasks[g]));
  const setRules = async (g: SecurityGroup, rules: SgRule[], what: string) => {
    const r = await ctl.send('PUT', 'security_groups', { owner: ws, name: g.name, update_dict: { rules } });
    watch.track(g.name, r);
    toast('info', `${what}: ${g.name}…`);
  };
  return (
    <>
      <PageHeader
        title="Security groups"
        subtitle="Firewall rules for the VMs' NICs: what may reach them and what they may reach. Replies to allowed traffic pass."
        actions={
          <Button
            variant="primary"
            icon="plus"
            deniedBy={!perms.network_can_add && 'network_can_add'}
            onClick={() => setCreating(true)}
            data-testid="create-sg"
          >
            Create group
          </Button>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      {!list.data && list.loading ? <Loading /> : null}
      {list.data && !list.data.length ? (
        <Card>
          <Empty icon="shield" title="No security groups">
            A VM in no group is reached by nobody.
          </Empty>
        </Card>
      ) : null}
      {list.data?.map((g) => (
        <Card
          key={g.name}
          title={
            <span className="title-with-pill" data-testid={`sg-${g.name}`}>
              {g.name} <TaskBadge task={watch.tasks[g.name]} testId={`sg-task-${g.name}`} />
            </span>
          }
          actions={
            <span className="row-actions">
              <Button
                icon="plus"
                deniedBy={!perms.network_can_edit && 'network_can_edit'}
                disabled={busy(g.name)}
                onClick={() => setAdding(g)}
                data-testid={`sg-add-rule-${g.name}`}
              >
                Add rule
              </Button>
              <Button
                variant="ghost"
                icon="trash"
                aria-label={`Delete group ${g.name}`}
                deniedBy={!perms.network_can_delete && 'network_can_delete'}
                disabled={busy(g.name)}
                onClick={() => setDeleting(g)}
              />
            </span>
          }
        >
          {g.description ? <p className="muted pad">{g.description}</p> : null}
          <Table
            columns={[
              { key: 'direction', label: 'Direction', render: ({ r }) => r.direction },
              { key: 'protocol', label: 'Protocol', render: ({ r }) => r.protocol },
              {
                key: 'ports',
                label: 'Ports',
                render: ({ r }) =>
                  r.port_min === undefined && r.port_max === undefined ? (
                    <span className="muted">all</span>
                  ) : (
                    <code>
                      {r.port_min ?? 1}
                      {r.port_max !== undefined && r.port_max !== r.port_min ? `-${r.port_max}` : ''}
                    </code>
                  ),
              },
              {
                key: 'remote',
                label: 'Remote',
                render: ({ r }) =>
                  r.remote_group ? (
                    <span className="tag">group {r.remote_group}</span>
                  ) : r.remote_cidr ? (
                    <code>{r.remote_cidr}</code>
                  ) : (
                    <span className="muted">anywhere</span>
                  ),
              },
              {
                key: 'actions',
                label: '',
                className: 'actions',
                render: ({ i }) => (
                  <Button
                    variant="ghost"
                    icon="trash"
                    aria-label={`Remove rule ${i + 1} of ${g.name}`}
                    deniedBy={!perms.network_can_edit && 'network_can_edit'}
                    disabled={busy(g.name)}
                    onClick={() => setRemoving({ group: g, index: i })}
                  />
                ),
              },
            ]}
            rows={g.rules.map((r, i) => ({ r, i }))}
            rowKey={({ i }) => String(i)}
            rowProps={({ r, i }) => ({ 'data-testid': `sg-rule-${g.name}-${i}`, title: ruleText(r) })}
            empty={<p className="muted pad">No rule: members of this group are reached by nobody.</p>}
          />
        </Card>
      ))}
      {creating ? (
        <CreateGroup
          ws={ws}
          groups={(list.data ?? []).map((g) => g.name)}
          onClose={() => setCreating(false)}
          onAccepted={(name, a) => {
            watch.track(name, a);
            list.reload();
          }}
        />
      ) : null}
      {adding ? (
        <AddRule
          group={adding}
          groups={(list.data ?? []).map((g) => g.name)}
          onClose={() => setAdding(undefined)}
          onSubmit={(rule) => setRules(adding, [...adding.rules, rule], 'Adding a rule')}
        />
      ) : null}
      {removing ? (
        <Confirm
          title={`Remove this rule of ${removing.group.name}?`}
          body={
            <p>
              <code>{ruleText(removing.group.rules[removing.index])}</code>: its traffic stops on the running
              VMs within seconds.
            </p>
          }
          confirmLabel="Remove"
          onClose={() => setRemoving(undefined)}
          onConfirm={() =>
            setRules(
              removing.group,
              removing.group.rules.filter((_, i) => i !== removing.index),
              'Removing a rule',
            )
          }
        />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete security group ${deleting.name}?`}
          body={<p>Refused while a VM is in it or another group's rule names it.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            const r = await ctl.send('DELETE', 'security_groups', { owner: ws, name: deleting.name });
            watch.track(deleting.name, r);
            toast('info', `Deleting ${deleting.name}…`);
          }}
        />
      ) : null}
    </>
  );
}

// ---------- rules ----------
interface RuleDraft {
  direction: SgRule['direction'];
  protocol: SgRule['protocol'];
  port_min: string;
  port_max: string;
  remote: 'cidr' | 'group';
  value: string;
}
const NEW_RULE: RuleDraft = {
  direction: 'ingress',
  protocol: 'tcp',
  port_min: '',
  port_max: '',
  remote: 'cidr',
  value: '0.0.0.0/0',
};

/** A draft as the API takes it (a port that is not a number goes as is: the API names the field). */
function toRule(d: RuleDraft): SgRule {
  const port = (s: string) => (s.trim() === '' ? undefined : Number(s));
  const ported = d.protocol === 'tcp' || d.protocol === 'udp';
  return {
    direction: d.direction,
    protocol: d.protocol,
    ...(ported && port(d.port_min) !== undefined ? { port_min: port(d.port_min) } : {}),
    ...(ported && port(d.port_max) !== undefined ? { port_max: port(d.port_max) } : {}),
    ...(d.value.trim()
      ? d.remote === 'cidr'
        ? { remote_cidr: d.value.trim() }
        : { remote_group: d.value }
      : {}),
  };
}

/** One rule's inputs; `field` is the API's name for it (rules.<i>), whose errors show under each input. */
function RuleEditor({
  rule,
  onChange,
  groups,
  field,
  error,
  label,
}: {
  rule: RuleDraft;
  onChange: (r: RuleDraft) => void;
  groups: string[];
  field: string;
  error?: ApiError;
  label: string;
}) {
  const set = <K extends keyof RuleDraft>(k: K, v: RuleDraft[K]) => onChange({ ...rule, [k]: v });
  const err = (name: string) => errorFor(error, `${field}.${name}`);
  const ported = rule.protocol === 'tcp' || rule.protocol === 'udp';
  const problems = ['direction', 'protocol', 'port_min', 'port_max', 'remote_cidr', 'remote_group']
    .map(err)
    .filter(Boolean);
  return (
    <fieldset className="rule-editor" aria-label={label}>
      <div className="rule-row">
        <select
          className="input"
          aria-label={`${label} direction`}
          value={rule.direction}
          onChange={(e) => set('direction', e.target.value as RuleDraft['direction'])}
        >
          {DIRECTIONS.map((d) => (
            <option key={d} value={d}>
              {d}
            </option>
          ))}
        </select>
        <select
          className="input"
          aria-label={`${label} protocol`}
          value={rule.protocol}
          onChange={(e) => set('protocol', e.target.value as RuleDraft['protocol'])}
        >
          {PROTOCOLS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <input
          className="input"
          aria-label={`${label} first port`}
          inputMode="numeric"
          placeholder={ported ? 'port' : '—'}
          disabled={!ported}
          value={ported ? rule.port_min : ''}
          aria-invalid={err('port_min') ? true : undefined}
          onChange={(e) => set('port_min', e.target.value)}
        />
        <input
          className="input"
          aria-label={`${label} last port`}
          inputMode="numeric"
          placeholder={ported ? 'to (optional)' : '—'}
          disabled={!ported}
          value={ported ? rule.port_max : ''}
          aria-invalid={err('port_max') ? true : undefined}
          onChange={(e) => set('port_max', e.target.value)}
        />
      </div>
      <div className="rule-row">
        <select
          className="input"
          aria-label={`${label} remote kind`}
          value={rule.remote}
          onChange={(e) =>
            onChange({
              ...rule,
              remote: e.target.value as RuleDraft['remote'],
              value: e.target.value === 'group' ? (groups[0] ?? '') : '0.0.0.0/0',
            })
          }
        >
          <option value="cidr">{rule.direction === 'ingress' ? 'from addresses' : 'to addresses'}</option>
          <option value="group">{rule.direction === 'ingress' ? 'from group' : 'to group'}</option>
        </select>
        {rule.remote === 'cidr' ? (
          <input
            className="input"
            aria-label={`${label} remote network`}
            placeholder="0.0.0.0/0"
            value={rule.value}
            aria-invalid={err('remote_cidr') ? true : undefined}
            onChange={(e) => set('value', e.target.value)}
          />
        ) : (
          <select
            className="input"
            aria-label={`${label} remote group`}
            value={rule.value}
            onChange={(e) => set('value', e.target.value)}
          >
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        )}
      </div>
      {problems.map((p) => (
        <div key={p} className="field-error" role="alert" data-error-for={field}>
          <Icon name="alert" size={14} /> {p}
        </div>
      ))}
    </fieldset>
  );
}

function CreateGroup({
  ws,
  groups,
  onClose,
  onAccepted,
}: {
  ws: string;
  groups: string[];
  onClose: () => void;
  onAccepted: (name: string, a: { task_id: string }) => void;
}) {
  const toast = useToast();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [rules, setRules] = useState<RuleDraft[]>([NEW_RULE]);
  const act = useAction(async () => {
    const r = await ctl.send('POST', 'security_groups', {
      owner: ws,
      name,
      ...(description ? { description } : {}),
      rules: rules.map(toRule),
    });
    toast('info', `Creating security group ${name}…`);
    onAccepted(name, r);
    onClose();
  });
  // A rule may name the group being made (members of the group reach each other).
  const names = [...new Set([...groups, ...(name ? [name] : [])])];
  return (
    <FormDrawer
      title="Create a security group"
      onClose={onClose}
      action={act}
      submitLabel="Create group"
      submitTestId="sg-submit"
      wide
      fields={['name', 'description', 'rules']}
    >
      <TextField
        label="Name"
        name="name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={act.error}
        placeholder="e.g. web"
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
      <div className="field">
        <label>Rules</label>
        {rules.map((r, i) => (
          <div key={i} className="rule-item">
            <RuleEditor
              rule={r}
              groups={names}
              field={`rules.${i}`}
              error={act.error}
              label={`Rule ${i + 1}`}
              onChange={(x) => setRules((all) => all.map((y, j) => (j === i ? x : y)))}
            />
            <Button
              variant="ghost"
              icon="trash"
              aria-label={`Remove rule ${i + 1}`}
              onClick={() => setRules((all) => all.filter((_, j) => j !== i))}
            />
          </div>
        ))}
        <Button icon="plus" onClick={() => setRules((all) => [...all, NEW_RULE])} data-testid="sg-more-rules">
          Another rule
        </Button>
        <div className="field-hint">
          Without rules the group lets nothing in and nothing out. Replies to allowed traffic always pass.
        </div>
      </div>
    </FormDrawer>
  );
}

function AddRule({
  group,
  groups,
  onClose,
  onSubmit,
}: {
  group: SecurityGroup;
  groups: string[];
  onClose: () => void;
  onSubmit: (rule: SgRule) => Promise<void>;
}) {
  const [rule, setRule] = useState<RuleDraft>(NEW_RULE);
  const act = useAction(async () => {
    await onSubmit(toRule(rule));
    onClose();
  });
  const index = group.rules.length;
  return (
    <FormDrawer
      title={`Add a rule to ${group.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Add rule"
      submitTestId="sg-rule-submit"
      wide
      fields={[`rules.${index}`]}
    >
      <p className="muted">It applies to the group's running VMs within seconds.</p>
      <RuleEditor
        rule={rule}
        groups={groups}
        field={`rules.${index}`}
        error={act.error}
        label="New rule"
        onChange={setRule}
      />
    </FormDrawer>
  );
}
