// `kloudak lab up|down|status|register|cut|restore|fence`: hypervisor hosts in namespaces on this machine
// (docs/lab.md).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { labCutHost, labDown, labRestoreHost, labStatus, labUp } from '../lab/index.ts';
import { callJson, expectOk } from '../lib/httpclient.ts';
import { CliError, EXIT } from './commands/client.ts';
import { registerLab } from './lab-register.ts';

/**
 * The lab's state directory: --dir, else KLOUDAK_LAB_DIR, else the lab `kloudak up` made in its data dir
 * (KLOUDAK_DATA_DIR or ./data) when there is one, else /var/lib/kloudak/lab.
 */
export function labDir(given?: string): string {
  if (given) return given;
  if (process.env.KLOUDAK_LAB_DIR) return process.env.KLOUDAK_LAB_DIR;
  const up = resolve(process.env.KLOUDAK_DATA_DIR ?? 'data', 'lab');
  return existsSync(join(up, 'lab.json')) ? up : '/var/lib/kloudak/lab';
}

const DIR_HELP =
  'lab state directory (default: $KLOUDAK_LAB_DIR, else ./data/lab of kloudak up, else /var/lib/kloudak/lab)';
const say = (l: string) => process.stderr.write(`${l}\n`);

export function labCommands(program: Command): void {
  const lab = program.command('lab').description('a lab of hypervisor hosts in namespaces on this machine');
  const dir = (o: { dir?: string }) => labDir(o.dir);
  lab
    .command('up')
    .description('create (or repair) the lab hosts, with libvirt, Open vSwitch, sshd and a shared pool')
    .option('--hosts <n>', 'number of hosts', '2')
    .option('--dir <path>', DIR_HELP)
    .action(async (o: { hosts: string; dir?: string }) => {
      const n = Number(o.hosts);
      if (!Number.isInteger(n) || n < 1 || n > 8) throw new CliError('--hosts must be 1 to 8', EXIT.usage);
      const s = await labUp({ hosts: n, stateDir: dir(o), log: say });
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    });
  lab
    .command('down')
    .description('remove every lab host, link, mount and process')
    .option('--dir <path>', DIR_HELP)
    .action(async (o: { dir?: string }) => {
      await labDown({ stateDir: dir(o), log: say });
    });
  lab
    .command('status')
    .option('--dir <path>', DIR_HELP)
    .action(async (o: { dir?: string }) => {
      process.stdout.write(`${JSON.stringify(await labStatus(dir(o)), null, 2)}\n`);
    });
  lab
    .command('cut')
    .description(
      "pull a host's cables: it leaves every lab network, its guests keep running (a failure to see)",
    )
    .argument('<host>', 'lab host, e.g. kl-h1')
    .option('--management', 'pull the management cable only: its guests still answer on the public network')
    .option('--dir <path>', DIR_HELP)
    .action(async (host: string, o: { dir?: string; management?: boolean }) => {
      await labCutHost(dir(o), host, o.management ? 'management' : 'all');
      say(
        o.management
          ? `${host} cut off the management network (kloudak lab restore ${host})`
          : `${host} cut off the management, public and private networks (kloudak lab restore ${host})`,
      );
    });
  lab
    .command('restore')
    .description("plug a cut host's cables back in; returns once its sshd answers")
    .argument('<host>', 'lab host, e.g. kl-h1')
    .option('--dir <path>', DIR_HELP)
    .action(async (host: string, o: { dir?: string }) => {
      await labRestoreHost(dir(o), host);
      say(`${host} is back on the lab networks`);
    });
  lab
    .command('fence')
    .description(
      'the lab\'s fence agent (KLOUDAK_FENCE_COMMAND="kloudak lab fence"): kills those guests\' qemu on that host, as cutting its power would',
    )
    .argument('<host>', 'lab host, e.g. kl-h1')
    .argument('<address>', "the host's management address (as compute passes it; not needed here)")
    .argument('[domains...]', 'libvirt domains to end')
    .action(async (host: string, _address: string, domains: string[]) => {
      const { fenceCommand } = await import('../lab/fence.ts');
      const code = await fenceCommand(host, domains);
      if (code) process.exit(code);
    });
  lab
    .command('register')
    .description("register the lab's area, hosts, pool and test template with inventory (as an admin)")
    .option('--dir <path>', DIR_HELP)
    .option(
      '--inventory <url>',
      'inventory URL',
      process.env.KLOUDAK_INVENTORY_URL ?? 'http://127.0.0.1:5000',
    )
    .option('--user <name>', 'admin user', process.env.KLOUDAK_ADMIN_USER ?? 'admin')
    .requiredOption(
      '--password <password>',
      'admin password (or KLOUDAK_ADMIN_PASSWORD)',
      process.env.KLOUDAK_ADMIN_PASSWORD,
    )
    .action(async (o: { dir?: string; inventory: string; user: string; password: string }) => {
      const login = expectOk(
        await callJson<{ token: string }>('POST', `${o.inventory}/login/`, {
          body: { username: o.user, password: o.password },
        }),
        'login',
      );
      const r = await registerLab(await labStatus(dir(o)), o.inventory, login.token);
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    });
}
