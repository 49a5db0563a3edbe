// A workspace's quotas (issue 17): a bar per quota (use against limit) and per area (public addresses and
// VLANs against the per-area ceilings); admins change the limits here (PUT /workspaces/<ws>/quotas/).
import { useState } from 'react';
import type { WorkspaceQuotas } from '../../../src/lib/contracts/inventory.ts';
import { enc, inv } from '../api.ts';
import { useAuth } from '../auth.tsx';
import { useResource } from '../hooks.ts';
import {
  Button,
  Card,
  ErrorBanner,
  Form,
  FormError,
  Loading,
  PageHeader,
  TextField,
  useAction,
  useToast,
} from '../ui.tsx';

const QUOTAS = [
  ['vms', 'Virtual machines', ''],
  ['vcpus', 'vCPUs', ''],
  ['ram', 'Memory', ' GiB'],
  ['disk', 'Disk', ' GiB'],
  ['networks', 'Networks', ''],
  ['routers', 'Routers', ''],
  ['snapshots', 'Snapshots', ''],
] as const;
type QuotaName = (typeof QUOTAS)[number][0];

/** One bar: what is used of a limit; amber from 80 %, red when full. */
export function UsageBar({
  label,
  used,
  limit,
  unit = '',
}: {
  label: string;
  used: number;
  limit: number;
  unit?: string;
}) {
  const share = limit > 0 ? Math.min(1, used / limit) : 1;
  const level = share >= 1 ? 'full' : share >= 0.8 ? 'high' : 'ok';
  return (
    <div className="usage" data-testid={`usage-${label}`}>
      <div className="usage-head">
        <span>{label}</span>
        <span className="muted small">
          {used}
          {unit} / {limit}
          {unit}
        </span>
      </div>
      <div
        className={`usage-bar usage-${level}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={used}
      >
        <span style={{ width: `${Math.round(share * 100)}%` }} />
      </div>
    </div>
  );
}

export function QuotasPage({ ws }: { ws: string }) {
  const { claims } = useAuth();
  const path = `/workspaces/${enc(ws)}/quotas/`;
  const q = useResource(() => inv.get<WorkspaceQuotas>(path), `quotas:${ws}`);
  return (
    <>
      <PageHeader
        title="Quotas"
        subtitle="What this workspace uses of its limits, and of each area's ceilings."
      />
      <ErrorBanner error={q.error} onRetry={q.reload} />
      {!q.data && q.loading ? <Loading /> : null}
      {q.data ? (
        <div className="grid-2">
          <Card title="Workspace">
            {QUOTAS.map(([k, label, unit]) => (
              <UsageBar
                key={k}
                label={q.data?.custom.includes(k) ? `${label} *` : label}
                used={q.data?.used[k] ?? 0}
                limit={q.data?.limits[k] ?? 0}
                unit={unit}
              />
            ))}
            <p className="muted small">* set for this workspace by an admin; the others are the defaults.</p>
          </Card>
          <Card title="Per area">
            {q.data.areas.map((a) => (
              <div key={a.area}>
                <strong>{a.area}</strong>
                <UsageBar
                  label={`${a.area} public addresses`}
                  used={a.public_ips.used}
                  limit={a.public_ips.limit}
                />
                <UsageBar label={`${a.area} VLANs`} used={a.vlans.used} limit={a.vlans.limit} />
              </div>
            ))}
          </Card>
          {claims?.admin ? <EditLimits path={path} q={q.data} onSaved={q.reload} /> : null}
        </div>
      ) : null}
    </>
  );
}

function EditLimits({ path, q, onSaved }: { path: string; q: WorkspaceQuotas; onSaved: () => void }) {
  const toast = useToast();
  const [values, setValues] = useState<Record<QuotaName, string>>(
    () => Object.fromEntries(QUOTAS.map(([k]) => [k, String(q.limits[k])])) as Record<QuotaName, string>,
  );
  const save = useAction(async () => {
    // Only what changed is sent: a limit left alone stays a default.
    const body = Object.fromEntries(
      QUOTAS.filter(([k]) => values[k] !== String(q.limits[k])).map(([k]) => [
        k,
        values[k] === '' ? null : Number(values[k]),
      ]),
    );
    if (!Object.keys(body).length) return;
    await inv.put(path, body);
    toast('ok', 'Limits saved');
    onSaved();
  });
  return (
    <Card title="Change limits (admins)">
      <Form onSubmit={() => void save.run()}>
        <FormError error={save.error} fields={QUOTAS.map(([k]) => k)} />
        {QUOTAS.map(([k, label, unit]) => (
          <TextField
            key={k}
            label={`${label}${unit}`}
            name={k}
            inputMode="decimal"
            value={values[k]}
            onChange={(e) => setValues({ ...values, [k]: e.target.value })}
            error={save.error}
            hint="empty: the configured default"
          />
        ))}
        <Button type="submit" variant="primary" busy={save.busy}>
          Save limits
        </Button>
      </Form>
    </Card>
  );
}
