// The operators' catalogue (DESIGN "Public APIs"): templates and areas (everyone reads, admins write), hosts
// and pools (admins only), with usage from monitoring where it has some.
import { useState, type ReactNode } from 'react';
import { enc, inv } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { UsageChart } from '../chart.tsx';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  Confirm,
  Empty,
  ErrorBanner,
  FormDrawer,
  Loading,
  PageHeader,
  SelectField,
  Table,
  TextField,
  type Column,
  useAction,
  useToast,
} from '../ui.tsx';
import { fmtGiB } from './vms.tsx';

type Row = Record<string, any> & { name: string };

interface FieldSpec {
  name: string;
  label: string;
  type?: 'text' | 'number' | 'area' | 'select';
  options?: string[];
  placeholder?: string;
  hint?: string;
  optional?: boolean;
  /** Shown only when creating (the key cannot change later, or the API derives it). */
  createOnly?: boolean;
}

export interface Kind {
  table: 'templates' | 'areas' | 'hosts' | 'pools';
  title: string;
  one: string;
  subtitle: string;
  icon: string;
  columns: Column<Row>[];
  fields: FieldSpec[];
  /** Extra per-row content (usage). */
  detail?: (r: Row) => ReactNode;
}

const code = (v: unknown) =>
  v === null || v === undefined || v === '' ? (
    <span className="muted">—</span>
  ) : (
    <code className="truncate" title={String(v)}>
      {String(v)}
    </code>
  );

export const KINDS: Record<string, Kind> = {
  templates: {
    table: 'templates',
    title: 'Templates',
    one: 'template',
    icon: 'layers',
    subtitle: 'The base disk and size every VM starts from.',
    columns: [
      { key: 'name', label: 'Name', render: (r) => <strong>{r.name}</strong> },
      { key: 'os', label: 'OS', render: (r) => r.os || <span className="muted">—</span> },
      {
        key: 'size',
        label: 'Size',
        render: (r) => `${r.cpu} vCPU · ${fmtGiB(r.ram)} RAM · ${fmtGiB(r.disk)} disk`,
      },
      { key: 'image', label: 'Image', render: (r) => code(r.image) },
      {
        key: 'description',
        label: 'Description',
        render: (r) => r.description || <span className="muted">—</span>,
      },
    ],
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'os', label: 'Operating system', optional: true, placeholder: 'e.g. debian-12' },
      { name: 'description', label: 'Description', optional: true },
      { name: 'cpu', label: 'vCPUs', type: 'number', placeholder: '1' },
      { name: 'ram', label: 'RAM (GiB)', type: 'number', placeholder: '1', hint: '0.5 = 512 MiB' },
      { name: 'disk', label: 'Disk (GiB)', type: 'number', placeholder: '10' },
      {
        name: 'image',
        label: 'Base image',
        optional: true,
        placeholder: '<name>.qcow2',
        hint: 'Absolute, or relative to the pool.',
      },
    ],
  },
  areas: {
    table: 'areas',
    title: 'Areas',
    one: 'area',
    icon: 'map',
    subtitle: 'A failover domain with one subnet: VMs of a failed host restart on another host of its area.',
    columns: [
      { key: 'name', label: 'Name', render: (r) => <strong>{r.name}</strong> },
      { key: 'subnet', label: 'Subnet', render: (r) => code(r.subnet) },
      { key: 'gateway', label: 'Gateway', render: (r) => code(r.gateway) },
      { key: 'next_ip', label: 'Next address', render: (r) => code(r.next_ip) },
    ],
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'subnet', label: 'Subnet', placeholder: '10.20.0.0/24', hint: 'IPv4 CIDR, prefix 16-30.' },
      { name: 'gateway', label: 'Gateway', optional: true, placeholder: 'the first address' },
      { name: 'next_ip', label: 'Next address', optional: true },
    ],
  },
  hosts: {
    table: 'hosts',
    title: 'Hosts',
    one: 'host',
    icon: 'server',
    subtitle: 'Hypervisors: libvirt over SSH, two OVS bridges each.',
    columns: [
      { key: 'name', label: 'Name', render: (r) => <strong>{r.name}</strong> },
      { key: 'area', label: 'Area', render: (r) => r.area },
      { key: 'address', label: 'Address', render: (r) => code(r.address) },
      { key: 'libvirt_uri', label: 'libvirt', render: (r) => code(r.libvirt_uri) },
      { key: 'size', label: 'Capacity', render: (r) => `${r.cpus} CPUs · ${r.memory} GiB` },
      { key: 'domain_type', label: 'Type', render: (r) => r.domain_type },
    ],
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'area', label: 'Area', type: 'area' },
      { name: 'address', label: 'Management address', placeholder: '10.0.0.11' },
      { name: 'libvirt_uri', label: 'libvirt URI', placeholder: 'qemu+ssh://root@10.0.0.11/system' },
      { name: 'cpus', label: 'CPUs', type: 'number' },
      { name: 'memory', label: 'Memory (GiB)', type: 'number' },
      { name: 'domain_type', label: 'Domain type', type: 'select', options: ['kvm', 'qemu'] },
    ],
    detail: (r) => (
      <UsageChart source={`/hosts/${enc(r.name)}/`} title={`${r.name}: CPU and memory`} height={90} />
    ),
  },
  pools: {
    table: 'pools',
    title: 'Storage pools',
    one: 'pool',
    icon: 'disk',
    subtitle: 'Shared storage, mounted at the same path on every host of its area.',
    columns: [
      { key: 'name', label: 'Name', render: (r) => <strong>{r.name}</strong> },
      { key: 'area', label: 'Area', render: (r) => r.area },
      { key: 'path', label: 'Path', render: (r) => code(r.path) },
      { key: 'size', label: 'Size', render: (r) => `${r.size} GiB` },
    ],
    fields: [
      { name: 'name', label: 'Name' },
      { name: 'area', label: 'Area', type: 'area' },
      { name: 'path', label: 'Path', placeholder: '/var/lib/pool-01' },
      { name: 'size', label: 'Size (GiB)', type: 'number' },
    ],
  },
};

export function CataloguePage({ kind }: { kind: Kind }) {
  const { claims } = useAuth();
  const admin = Boolean(claims?.admin);
  const toast = useToast();
  const list = useResource(() => inv.list<Row>(`/${kind.table}/`, kind.table), `cat:${kind.table}`);
  const [editing, setEditing] = useState<Row | 'new' | undefined>();
  const [deleting, setDeleting] = useState<Row | undefined>();
  const columns: Column<Row>[] = [
    ...kind.columns,
    {
      key: 'actions',
      label: '',
      className: 'actions',
      render: (r) => (
        <span className="row-actions">
          <Button
            variant="ghost"
            icon="edit"
            aria-label={`Edit ${r.name}`}
            deniedBy={!admin && 'the admin role'}
            onClick={() => setEditing(r)}
          />
          <Button
            variant="ghost"
            icon="trash"
            aria-label={`Delete ${r.name}`}
            deniedBy={!admin && 'the admin role'}
            onClick={() => setDeleting(r)}
          />
        </span>
      ),
    },
  ];
  return (
    <>
      <PageHeader
        title={kind.title}
        subtitle={kind.subtitle}
        actions={
          <Button
            variant="primary"
            icon="plus"
            deniedBy={!admin && 'the admin role'}
            onClick={() => setEditing('new')}
            data-testid={`create-${kind.one}`}
          >
            Add {kind.one}
          </Button>
        }
      />
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {!list.data && list.loading ? (
          <Loading />
        ) : (
          <Table
            columns={columns}
            rows={list.data ?? []}
            rowKey={(r) => r.name}
            rowProps={(r) => ({ 'data-testid': `${kind.one}-row-${r.name}` })}
            empty={<Empty icon={kind.icon} title={`No ${kind.table} yet`} />}
          />
        )}
      </Card>
      {kind.detail && list.data?.length ? (
        <div className="grid-2">
          {list.data.map((r) => (
            <Card key={r.name}>{kind.detail!(r)}</Card>
          ))}
        </div>
      ) : null}
      {editing ? (
        <CatalogueForm
          kind={kind}
          row={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={list.reload}
        />
      ) : null}
      {deleting ? (
        <Confirm
          title={`Delete ${kind.one} ${deleting.name}?`}
          body={<p>Refused while anything still uses it.</p>}
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await inv.del(`/${kind.table}/${enc(deleting.name)}/`);
            toast('ok', `${deleting.name} deleted`);
            list.reload();
          }}
        />
      ) : null}
    </>
  );
}

export function CatalogueForm({
  kind,
  row,
  onClose,
  onSaved,
}: {
  kind: Kind;
  row?: Row;
  onClose: () => void;
  onSaved: () => void;
}) {
  const toast = useToast();
  const areas = useResource(
    kind.fields.some((f) => f.type === 'area')
      ? () => inv.list<Row>('/areas/', 'areas').then((r) => r.map((a) => a.name))
      : undefined,
    'area-names',
  );
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      kind.fields.map((f) => [
        f.name,
        row?.[f.name] === undefined || row[f.name] === null ? (f.options?.[0] ?? '') : String(row[f.name]),
      ]),
    ),
  );
  const act = useAction(async () => {
    const body: Record<string, unknown> = {};
    for (const f of kind.fields) {
      const v = values[f.name] ?? '';
      if (v === '' && f.optional) continue;
      if (f.type === 'area' && !v && areas.data?.[0]) body[f.name] = areas.data[0];
      else body[f.name] = f.type === 'number' && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v;
    }
    if (row) await inv.put(`/${kind.table}/${enc(row.name)}/`, body);
    else await inv.post(`/${kind.table}/`, body);
    toast('ok', `${kind.one} ${String(body.name)} saved`);
    onSaved();
    onClose();
  });
  const set = (k: string) => (e: { target: { value: string } }) =>
    setValues((v) => ({ ...v, [k]: e.target.value }));
  return (
    <FormDrawer
      title={
        row ? `Edit ${kind.one} ${row.name}` : `Add ${/^[aeiou]/.test(kind.one) ? 'an' : 'a'} ${kind.one}`
      }
      onClose={onClose}
      action={act}
      submitLabel="Save"
      fields={kind.fields.map((f) => f.name)}
    >
      {kind.fields.map((f) =>
        f.type === 'area' || f.type === 'select' ? (
          <SelectField
            key={f.name}
            label={f.label}
            name={f.name}
            value={values[f.name] || (f.type === 'area' ? (areas.data?.[0] ?? '') : '')}
            onChange={set(f.name)}
            error={act.error}
            options={(f.type === 'area' ? (areas.data ?? []) : (f.options ?? [])).map((value) => ({
              value,
            }))}
            placeholder={f.type === 'area' && !areas.data?.length ? 'No area yet' : undefined}
          />
        ) : (
          <TextField
            key={f.name}
            label={f.optional ? `${f.label} (optional)` : f.label}
            name={f.name}
            inputMode={f.type === 'number' ? 'decimal' : undefined}
            value={values[f.name]}
            onChange={set(f.name)}
            error={act.error}
            placeholder={f.placeholder}
            hint={f.hint}
          />
        ),
      )}
    </FormDrawer>
  );
}
