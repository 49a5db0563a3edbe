// `kloudak sg list|show|create|update|delete` (issue 17): a workspace's security groups. A rule is written
// `<ingress|egress>:<tcp|udp|icmp|any>[:<port>[-<port>]][:<a.b.c.d/p>|<group>]`, e.g.
// `ingress:tcp:22:10.0.0.0/8`, `ingress:icmp::web`, `egress:any`.
import type { Command } from 'commander';
import { Client, seg, usage } from './client.ts';
import { printList, printObject } from './output.ts';
import { deleteCommand, submit, waitable, type WaitOptions, wsOption } from './tasks.ts';
import { collect } from './vms.ts';
import type { SecurityGroup, SgRule } from '../../lib/contracts/secgroups.ts';

type Listing = { workspace?: string; json?: boolean };
type RuleOptions = WaitOptions & { rule?: string[]; noRules?: boolean; description?: string };

/** One rule from its command-line form; a bad one is a usage error naming `rule`. */
export function parseRule(spec: string): SgRule {
  const [direction, protocol, ports = '', remote = '', ...rest] = spec.split(':');
  if (rest.length || (direction !== 'ingress' && direction !== 'egress'))
    throw usage(`rule ${spec}: write <ingress|egress>:<protocol>[:<port>[-<port>]][:<cidr>|<group>]`, 'rule');
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp' && protocol !== 'any')
    throw usage(`rule ${spec}: the protocol is tcp, udp, icmp or any`, 'rule');
  const rule: SgRule = { direction, protocol };
  if (ports) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(ports);
    if (!m) throw usage(`rule ${spec}: ports are <port> or <port>-<port>`, 'rule');
    rule.port_min = Number(m[1]);
    rule.port_max = Number(m[2] ?? m[1]);
  }
  if (remote.includes('/')) rule.remote_cidr = remote;
  else if (remote) rule.remote_group = remote;
  return rule;
}

/** A rule in its command-line form. */
export function formatRule(r: SgRule): string {
  const ports =
    r.port_min === undefined
      ? ''
      : r.port_min === r.port_max
        ? `${r.port_min}`
        : `${r.port_min}-${r.port_max}`;
  const remote = r.remote_cidr ?? r.remote_group ?? '';
  return [r.direction, r.protocol, ports, remote].join(':').replace(/:+$/, '');
}

export function securityGroupCommands(program: Command): void {
  const sg = program.command('sg').description("security groups: the workspace's firewall rules for VM NICs");
  const final = (client: Client, ws: string, name: string) => async () => {
    const g = await client.inventory<SecurityGroup>('GET', `/${seg(ws)}/security_groups/${seg(name)}/`);
    return { json: g, text: `security group ${name}: ${g.rules.map(formatRule).join('  ') || 'no rules'}` };
  };

  wsOption(sg.command('list'))
    .description('security groups of the workspace')
    .option('--json', 'print JSON')
    .action(async (o: Listing, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = await client.list<SecurityGroup>(
        `/${seg(client.workspace(o.workspace))}/security_groups/`,
        'security_groups',
      );
      printList(o.json, rows, [
        ['NAME', (g) => g.name],
        ['RULES', (g) => g.rules.map(formatRule).join(' ')],
        ['DESCRIPTION', (g) => g.description],
      ]);
    });
  wsOption(sg.command('show'))
    .description('a security group and its rules')
    .argument('<name>', 'group name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: Listing, cmd: Command) => {
      const client = Client.of(cmd);
      const g = await client.inventory<SecurityGroup>(
        'GET',
        `/${seg(client.workspace(o.workspace))}/security_groups/${seg(name)}/`,
      );
      printObject(o.json, { ...g, rules: o.json ? g.rules : g.rules.map(formatRule).join('  ') });
    });
  waitable(wsOption(sg.command('create')))
    .description('create a security group')
    .argument('<name>', 'group name')
    .option(
      '-r, --rule <rule>',
      'a rule, e.g. ingress:tcp:22:10.0.0.0/8 or ingress:icmp::web (repeatable)',
      collect,
    )
    .option('-d, --description <text>', 'description')
    .action(async (name: string, o: RuleOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      const body = { owner: ws, name, description: o.description, rules: (o.rule ?? []).map(parseRule) };
      await submit(
        client,
        ws,
        'POST',
        '/security_groups/',
        body,
        `security group ${name}`,
        o,
        final(client, ws, name),
      );
    });
  waitable(wsOption(sg.command('update')))
    .description("replace a group's rules (on every member's running VM within seconds)")
    .argument('<name>', 'group name')
    .option('-r, --rule <rule>', 'a rule: all of them, the group has these afterwards (repeatable)', collect)
    .option('--no-rules', 'remove every rule')
    .option('-d, --description <text>', 'new description')
    .action(async (name: string, o: RuleOptions & { rules?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      if (o.rules === false && o.rule) throw usage('give --rule or --no-rules, not both', 'rule');
      const update: { rules?: SgRule[]; description?: string } = {};
      if (o.rule) update.rules = o.rule.map(parseRule);
      if (o.rules === false) update.rules = [];
      if (o.description !== undefined) update.description = o.description;
      if (!Object.keys(update).length)
        throw usage('nothing to change: give --rule, --no-rules or --description', 'update_dict');
      await submit(
        client,
        ws,
        'PUT',
        '/security_groups/',
        { owner: ws, name, update_dict: update },
        `security group ${name}`,
        o,
        final(client, ws, name),
      );
    });
  deleteCommand(
    sg,
    'security group',
    '/security_groups/',
    'delete a security group (no VM may be in it, no rule may name it)',
  );
}
