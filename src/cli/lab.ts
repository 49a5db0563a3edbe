// `kloudak lab up|down|status|register`: hypervisor hosts in namespaces on this machine (docs/lab.md).
import type { Command } from 'commander';
import { labDown, labStatus, labUp } from '../lab/index.ts';
import { callJson, expectOk } from '../lib/httpclient.ts';
import { registerLab } from './lab-register.ts';

export const DEFAULT_LAB_DIR = process.env.KLOUDAK_LAB_DIR ?? '/var/lib/kloudak/lab';

export function labCommands(program: Command): void {
  const lab = program.command('lab').description('a lab of hypervisor hosts in namespaces on this machine');
  const dir = (o: { dir?: string }) => o.dir ?? DEFAULT_LAB_DIR;
  lab
    .command('up')
    .description('create (or repair) the lab hosts, with libvirt, Open vSwitch, sshd and a shared pool')
    .option('--hosts <n>', 'number of hosts', '2')
    .option('--dir <path>', 'lab state directory', DEFAULT_LAB_DIR)
    .action(async (o: { hosts: string; dir?: string }) => {
      const n = Number(o.hosts);
      if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error('--hosts must be 1 to 8');
      const s = await labUp({ hosts: n, stateDir: dir(o), log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    });
  lab
    .command('down')
    .description('remove every lab host, link, mount and process')
    .option('--dir <path>', 'lab state directory', DEFAULT_LAB_DIR)
    .action(async (o: { dir?: string }) => {
      await labDown({ stateDir: dir(o), log: (l) => process.stderr.write(`${l}\n`) });
    });
  lab
    .command('status')
    .option('--dir <path>', 'lab state directory', DEFAULT_LAB_DIR)
    .action(async (o: { dir?: string }) => {
      process.stdout.write(`${JSON.stringify(await labStatus(dir(o)), null, 2)}\n`);
    });
  lab
    .command('register')
    .description("register the lab's area, hosts, pool and test template with inventory (as an admin)")
    .option('--dir <path>', 'lab state directory', DEFAULT_LAB_DIR)
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
