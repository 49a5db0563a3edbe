// `kloudak networks|routers|interfaces ...`: a network is a VLAN of the workspace; a router joins networks.
import type { Command } from 'commander';
import { Client, seg } from './client.ts';
import { printList } from './output.ts';
import { deleteCommand, submit, waitable, type WaitOptions, wsOption } from './tasks.ts';
import type { Network, Router, RouterInterface as Interface } from '../../lib/contracts/inventory.ts';

type Listing = { workspace?: string; json?: boolean };

export function networkCommands(program: Command): void {
  const nets = program.command('networks').description('isolated networks (VLANs) of a workspace');
  wsOption(nets.command('list'))
    .description('networks of the workspace')
    .option('--json', 'print JSON')
    .action(async (o: Listing, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = await client.list<Network>(`/${seg(client.workspace(o.workspace))}/networks/`, 'networks');
      printList(o.json, rows, [
        ['NAME', (n) => n.name],
        ['STATE', (n) => n.state],
        ['VLAN', (n) => n.vlan],
        ['SUBNET', (n) => n.subnet],
        ['DESCRIPTION', (n) => n.description],
      ]);
    });
  waitable(wsOption(nets.command('create')))
    .description('create a network')
    .argument('<name>', 'network name')
    .option(
      '-s, --subnet <cidr>',
      "the network's IPv4 subnet (VMs get addresses from it), e.g. 192.168.10.0/24",
    )
    .option('-d, --description <text>', 'description')
    .action(
      async (name: string, o: WaitOptions & { subnet?: string; description?: string }, cmd: Command) => {
        const client = Client.of(cmd);
        const ws = client.workspace(o.workspace);
        await submit(
          client,
          ws,
          'POST',
          '/networks/',
          { owner: ws, name, subnet: o.subnet, description: o.description },
          `network ${name}`,
          o,
          async () => {
            const n = await client.inventory<Network>('GET', `/${seg(ws)}/networks/${seg(name)}/`);
            return {
              json: n,
              text: `network ${name}: ${n.state}  vlan ${n.vlan ?? '-'}  subnet ${n.subnet ?? '-'}`,
            };
          },
        );
      },
    );
  deleteCommand(nets, 'network', '/networks/', 'delete a network (no VM or router may be on it)');

  const routers = program.command('routers').description('routers joining networks of a workspace');
  wsOption(routers.command('list'))
    .description('routers of the workspace')
    .option('--json', 'print JSON')
    .action(async (o: Listing, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = await client.list<Router>(`/${seg(client.workspace(o.workspace))}/routers/`, 'routers');
      printList(o.json, rows, [
        ['NAME', (r) => r.name],
        ['STATE', (r) => r.state],
        ['HOST', (r) => r.host],
      ]);
    });
  waitable(wsOption(routers.command('create')))
    .description('create a router (then give it interfaces)')
    .argument('<name>', 'router name')
    .action(async (name: string, o: WaitOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      await submit(client, ws, 'POST', '/routers/', { owner: ws, name }, `router ${name}`, o, async () => {
        const r = await client.inventory<Router>('GET', `/${seg(ws)}/routers/${seg(name)}/`);
        return { json: r, text: `router ${name}: ${r.state}  host ${r.host ?? '-'}` };
      });
    });
  deleteCommand(routers, 'router', '/routers/', 'delete a router and its interfaces');

  const ifs = program.command('interfaces').description("a router's interfaces: one per network it joins");
  wsOption(ifs.command('list'))
    .description("a router's interfaces")
    .argument('<router>', 'router name')
    .option('--json', 'print JSON')
    .action(async (router: string, o: Listing, cmd: Command) => {
      const client = Client.of(cmd);
      const r = await client.inventory<{ interfaces: Interface[] }>(
        'GET',
        `/${seg(client.workspace(o.workspace))}/routers/${seg(router)}/interfaces/`,
      );
      printList(o.json, r.interfaces, [
        ['NETWORK', (i) => i.network],
        ['IP', (i) => i.ip],
        ['VLAN', (i) => i.vlan],
        ['SUBNET', (i) => i.subnet],
      ]);
    });
  waitable(wsOption(ifs.command('add')))
    .description('connect a router to a network, with an address on it')
    .argument('<router>', 'router name')
    .argument('<network>', 'network name')
    .requiredOption('--ip <address>', "the router's address on the network (e.g. the subnet's first address)")
    .action(async (router: string, network: string, o: WaitOptions & { ip: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      await submit(
        client,
        ws,
        'POST',
        '/interfaces/',
        { owner: ws, router, network, ip: o.ip },
        `router ${router} on ${network}`,
        o,
        async (t) => ({
          json: t,
          text: `router ${router}: interface on ${network} (${o.ip}) added`,
        }),
      );
    });
  waitable(wsOption(ifs.command('remove')))
    .description('disconnect a router from a network')
    .argument('<router>', 'router name')
    .argument('<network>', 'network name')
    .action(async (router: string, network: string, o: WaitOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      await submit(
        client,
        ws,
        'DELETE',
        '/interfaces/',
        { owner: ws, router, network },
        `router ${router} on ${network}`,
        o,
        async (t) => ({
          json: t,
          text: `router ${router}: interface on ${network} removed`,
        }),
      );
    });
}
