// `kloudak vm snapshot list|create|revert|delete` (issue 15 item 5): a VM's snapshots. Taken in the state the
// VM is in (running: disk and memory, it reverts running; stopped: the disk, it reverts stopped).
import type { Command } from 'commander';
import type { SnapshotList } from '../../lib/contracts/snapshots.ts';
import { Client, seg } from './client.ts';
import { printList } from './output.ts';
import { submit, type WaitOptions, wsOption } from './tasks.ts';

const waitOptions = (c: Command) =>
  c
    .option('--wait', 'follow the task to its end (progress on stderr); exit 1 if it fails')
    .option('--json', 'print JSON');

const ACTIONS = [
  [
    'create',
    'POST',
    '/snapshots/',
    'take a snapshot of a VM as it is now (running: with its memory)',
    'taken',
  ],
  [
    'revert',
    'POST',
    '/snapshots/revert/',
    'bring a VM back to a snapshot (its disk, and its memory if taken running)',
    'reverted to',
  ],
  ['delete', 'DELETE', '/snapshots/', 'delete a snapshot of a VM', 'deleted'],
] as const;

export function vmSnapshotCommands(vm: Command): void {
  const snap = vm.command('snapshot').description("a VM's snapshots: list, create, revert, delete");

  wsOption(snap.command('list'))
    .description("a VM's snapshots, oldest first")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      const { snapshots } = await client.inventory<SnapshotList>(
        'GET',
        `/${seg(ws)}/vms/${seg(name)}/snapshots/`,
      );
      printList(o.json, snapshots, [
        ['NAME', (s) => s.name],
        ['STATE', (s) => s.state],
        ['TAKEN', (s) => (s.running === null ? '-' : s.running ? 'running' : 'stopped')],
        ['CREATED', (s) => s.created_at],
      ]);
    });

  for (const [action, method, path, what, done] of ACTIONS)
    waitOptions(wsOption(snap.command(action)))
      .description(what)
      .argument('<vm>', 'VM name')
      .argument('<snapshot>', 'snapshot name')
      .action(async (name: string, snapshot: string, o: Omit<WaitOptions, 'timeout'>, cmd: Command) => {
        const client = Client.of(cmd);
        const ws = client.workspace(o.workspace);
        await submit(
          client,
          ws,
          method,
          path,
          { owner: ws, vm: name, name: snapshot },
          `vm ${name} snapshot ${snapshot}`,
          { wait: o.wait, json: o.json },
          async (t) => ({ json: t, text: `vm ${name}: snapshot ${snapshot} ${done}` }),
        );
      });
}
