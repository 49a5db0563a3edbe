// `kloudak vm create|list|show|edit|delete|migrate`: reads from inventory, changes through the controller.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { Client, seg, usage } from './client.ts';
import { ask, printList, printObject } from './output.ts';
import { deleteCommand, submit, waitable, type WaitOptions, wsOption } from './tasks.ts';
import { vmConsoleCommand } from './vm-console.ts';
import { vmLifeCommands } from './vm-life.ts';
import type { AffinityGroup, Vm } from '../../lib/contracts/inventory.ts';
import { vmSnapshotCommands } from './vm-snapshots.ts';

export const collect = (v: string, prev: string[] = []) => [...prev, v];

const summary = (vm: Vm) =>
  `vm ${vm.name}: ${vm.state}  ip ${vm.ip ?? '-'}  host ${vm.host ?? '-'}${vm.networks.length ? `  networks ${vm.networks.join(',')}` : ''}`;

async function finalVm(client: Client, ws: string, name: string) {
  const vm = await client.inventory<Vm>('GET', `/${seg(ws)}/vms/${seg(name)}/`);
  return { json: vm, text: summary(vm) };
}

/** The only area, when --area is not given and there is exactly one. */
async function defaultArea(client: Client): Promise<string> {
  const areas = await client.list<{ name: string }>('/areas/', 'areas');
  if (areas.length === 1) return areas[0].name;
  throw usage(
    `--area is required${areas.length ? ` (one of: ${areas.map((a) => a.name).join(', ')})` : ' (no area exists yet: an admin adds one with kloudak areas create)'}`,
    'area',
  );
}

interface CreateOptions extends WaitOptions {
  template: string;
  area?: string;
  network?: string[];
  securityGroup?: string[];
  password?: string;
  description?: string;
  runcmd?: string[];
  sshKey?: string[];
  userData?: string;
  affinityGroup?: string;
}

export function vmCommands(program: Command): void {
  const vm = program.command('vm').description('virtual machines of a workspace');

  waitable(wsOption(vm.command('create')))
    .description('create a VM from a template, on the area subnet and the given networks')
    .argument('<name>', 'VM name')
    .requiredOption('-t, --template <template>', 'template (kloudak templates list)')
    .option('-a, --area <area>', 'area (default: the only one)')
    .option('-n, --network <network>', 'a network to join (repeatable)', collect)
    .option(
      '-p, --password <password>',
      'guest root password; asked when not given, no --ssh-key or --user-data either, and stdin is a terminal',
    )
    .option('-k, --ssh-key <name>', 'one of your keys (kloudak keys list) for root (repeatable)', collect)
    .option('--user-data <file>', 'a #cloud-config file, merged with what the platform sets')
    .option('-d, --description <text>', 'description')
    .option('--runcmd <line>', 'a shell line the guest runs at first boot (repeatable)', collect)
    .option(
      '-g, --security-group <group>',
      'a security group its NICs join (repeatable; default: default)',
      collect,
    )
    .option(
      '--affinity-group <group>',
      'an anti-affinity group of the workspace: its VMs run on different hosts while the area has enough',
    )
    .action(async (name: string, o: CreateOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      let password = o.password;
      // A key or user-data is a way in without a password; with neither, a password is the only one.
      if (password === undefined && !o.sshKey && o.userData === undefined) {
        if (!process.stdin.isTTY)
          throw usage(
            '--password, --ssh-key or --user-data is required (stdin is not a terminal to ask on)',
            'password',
          );
        password = await ask('Guest root password: ', true);
      }
      let userData: string | undefined;
      if (o.userData !== undefined) {
        try {
          userData = await readFile(o.userData, 'utf8');
        } catch (e) {
          throw usage(`cannot read ${o.userData}: ${(e as Error).message}`, 'user_data');
        }
      }
      const area = o.area ?? (await defaultArea(client));
      const body = {
        owner: ws,
        name,
        area,
        template: o.template,
        password,
        networks: o.network ?? [],
        description: o.description,
        runcmd: o.runcmd,
        ssh_keys: o.sshKey,
        user_data: userData,
        security_groups: o.securityGroup,
        affinity_group: o.affinityGroup,
      };
      await submit(client, ws, 'POST', '/vms/', body, `vm ${name}`, o, () => finalVm(client, ws, name));
    });

  vmLifeCommands(vm);
  vmSnapshotCommands(vm);
  vmConsoleCommand(vm);

  wsOption(vm.command('list'))
    .description('VMs of the workspace')
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = await client.list<Vm>(`/${seg(client.workspace(o.workspace))}/vms/`, 'vms');
      printList(o.json, rows, [
        ['NAME', (v) => v.name],
        ['STATE', (v) => v.state],
        ['IP', (v) => v.ip],
        ['HOST', (v) => v.host],
        ['AREA', (v) => v.area],
        ['TEMPLATE', (v) => v.template],
        ['CPU', (v) => v.cpu],
        ['RAM', (v) => `${Math.round(v.ram * 1024)} MiB`],
        ['NETWORKS', (v) => v.networks],
        ['GROUPS', (v) => v.security_groups],
        ['AFFINITY', (v) => v.affinity_group],
      ]);
    });

  wsOption(vm.command('affinity-groups'))
    .description("the workspace's anti-affinity groups: each group's VMs and the hosts they run on")
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const { affinity_groups: rows } = await client.inventory<{ affinity_groups: AffinityGroup[] }>(
        'GET',
        `/${seg(client.workspace(o.workspace))}/affinity_groups/`,
      );
      printList(o.json, rows, [
        ['NAME', (g) => g.name],
        ['POLICY', (g) => g.policy],
        ['SPREAD', (g) => (g.spread ? 'yes' : 'no')],
        ['VMS', (g) => g.vms.map((v) => `${v.name}@${v.host ?? '-'}`)],
      ]);
    });

  wsOption(vm.command('show'))
    .description('one VM with its interfaces')
    .argument('<name>', 'VM name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const v = await client.inventory<Vm>('GET', `/${seg(client.workspace(o.workspace))}/vms/${seg(name)}/`);
      if (o.json) return printObject(true, v);
      const { interfaces, ...rest } = v;
      printObject(false, {
        ...rest,
        interfaces: interfaces.map((i) => `${i.network}=${i.ip ?? '-'}/${i.mac ?? '-'}`),
      });
    });

  waitable(wsOption(vm.command('edit')))
    .description('rename a VM, change its description or the networks it is on')
    .argument('<name>', 'VM name')
    .option('--name <new>', 'new name')
    .option('-d, --description <text>', 'new description')
    .option('-n, --network <network>', 'the networks it should be on, all of them (repeatable)', collect)
    .option('--no-networks', 'take it off every network')
    .option(
      '-g, --security-group <group>',
      'the security groups it should be in, all of them (repeatable)',
      collect,
    )
    .option('--affinity-group <group>', 'join this anti-affinity group (placement follows it from now on)')
    .option('--no-affinity-group', 'leave its anti-affinity group')
    .action(
      async (
        name: string,
        o: WaitOptions & {
          name?: string;
          description?: string;
          network?: string[];
          networks?: boolean;
          securityGroup?: string[];
          affinityGroup?: string | false;
        },
        cmd: Command,
      ) => {
        const client = Client.of(cmd);
        const ws = client.workspace(o.workspace);
        if (o.networks === false && o.network)
          throw usage('give --network or --no-networks, not both', 'networks');
        const update: Record<string, unknown> = {};
        if (o.name !== undefined) update.name = o.name;
        if (o.description !== undefined) update.description = o.description;
        if (o.network) update.networks = o.network;
        if (o.networks === false) update.networks = [];
        if (o.securityGroup) update.security_groups = o.securityGroup;
        if (o.affinityGroup !== undefined) update.affinity_group = o.affinityGroup || null;
        if (!Object.keys(update).length)
          throw usage(
            'nothing to change: give --name, --description, --network, --no-networks, --security-group or --affinity-group',
            'update_dict',
          );
        await submit(
          client,
          ws,
          'PUT',
          '/vms/',
          { owner: ws, name, update_dict: update },
          `vm ${name}`,
          o,
          () => finalVm(client, ws, o.name ?? name),
        );
      },
    );

  deleteCommand(vm, 'vm', '/vms/', 'delete a VM (its disk, domain and address go)');

  waitable(wsOption(vm.command('migrate')))
    .description('move a running VM live to another host of its area (admins)')
    .argument('<name>', 'VM name')
    .option('--host <host>', 'the destination (default: placement picks one)')
    .action(async (name: string, o: WaitOptions & { host?: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      const body = { owner: ws, name, ...(o.host ? { host: o.host } : {}) };
      await submit(client, ws, 'POST', '/vms/migrate/', body, `vm ${name}`, o, async (t) => {
        const v = await finalVm(client, ws, name);
        return { json: v.json, text: `vm ${name}: ${t.stage}` };
      });
    });
}
