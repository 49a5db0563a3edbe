// `kloudak quotas show|set`: a workspace's limits and use (members), and an admin's change of its limits.
import type { Command } from 'commander';
import type { WorkspaceQuotas } from '../../lib/contracts/inventory.ts';
import { Client, seg, usage } from './client.ts';
import { printJson, printList } from './output.ts';

const QUOTAS = ['vms', 'vcpus', 'ram', 'disk', 'networks', 'routers', 'snapshots'] as const;
const UNIT: Partial<Record<(typeof QUOTAS)[number], string>> = { ram: ' GiB', disk: ' GiB' };

/** A limit as given: a number of at least 0, or `default` (the configured one again). */
function limitOf(q: string, raw: string): number | null {
  if (raw === 'default') return null;
  const n = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    n < 0 ||
    (!UNIT[q as keyof typeof UNIT] && !Number.isInteger(n))
  )
    throw usage(
      `--${q}: ${JSON.stringify(raw)} is not ${UNIT[q as keyof typeof UNIT] ? 'a number' : 'a whole number'} >= 0 or "default"`,
      q,
    );
  return n;
}

function show(json: boolean | undefined, q: WorkspaceQuotas) {
  if (json) return printJson(q);
  const pct = (used: number, limit: number) => (limit > 0 ? `${Math.round((100 * used) / limit)}%` : '-');
  printList(
    false,
    QUOTAS.map((k) => ({ k, limit: q.limits[k], used: q.used[k] })),
    [
      ['QUOTA', (r) => r.k],
      ['USED', (r) => `${r.used}${UNIT[r.k] ?? ''}`],
      ['LIMIT', (r) => `${r.limit}${UNIT[r.k] ?? ''}${q.custom.includes(r.k) ? ' *' : ''}`],
      ['USE', (r) => pct(r.used, r.limit)],
    ],
  );
  if (q.areas.length) {
    process.stdout.write('\n');
    printList(false, q.areas, [
      ['AREA', (a) => a.area],
      ['PUBLIC ADDRESSES', (a) => `${a.public_ips.used}/${a.public_ips.limit}`],
      ['VLANS', (a) => `${a.vlans.used}/${a.vlans.limit}`],
    ]);
  }
}

export function quotaCommands(program: Command): void {
  const quotas = program
    .command('quotas')
    .description("a workspace's quotas: limits and use (* marks a limit an admin set for it)");
  quotas
    .command('show')
    .description('limits and use of the workspace, and its per-area ceilings')
    .option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)')
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      show(
        o.json,
        await client.inventory<WorkspaceQuotas>(
          'GET',
          `/workspaces/${seg(client.workspace(o.workspace))}/quotas/`,
        ),
      );
    });
  const set = quotas
    .command('set')
    .description('(admins) change limits of the workspace; only those given change; "default" resets one')
    .option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)')
    .option('--json', 'print JSON');
  for (const q of QUOTAS) set.option(`--${q} <n>`, `limit of ${q}${UNIT[q] ? ` (${UNIT[q].trim()})` : ''}`);
  set.action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
    const body: Record<string, number | null> = {};
    for (const q of QUOTAS) if (typeof o[q] === 'string') body[q] = limitOf(q, o[q]);
    if (!Object.keys(body).length)
      throw usage(`nothing to change: give ${QUOTAS.map((q) => `--${q}`).join(' ')}`);
    const client = Client.of(cmd);
    const ws = typeof o.workspace === 'string' ? o.workspace : undefined;
    show(
      o.json === true,
      await client.inventory<WorkspaceQuotas>('PUT', `/workspaces/${seg(client.workspace(ws))}/quotas/`, {
        body,
      }),
    );
  });
}
