// `kloudak workspaces list|create|delete|rename|use|give|leave`, `kloudak users list|add|edit|remove|invited|uninvite`
// (workspace members and the invitations they send) and `kloudak invitations list|accept|decline` (yours).
import type { Command } from 'commander';
import { Client, seg, usage } from './client.ts';
import { note, printList, printObject } from './output.ts';
import { submit, waitable, type WaitOptions, wsOption } from './tasks.ts';

const KINDS = ['vm', 'network', 'router', 'user'] as const;
const ACTIONS = ['add', 'edit', 'delete'] as const;
/** vm_can_add ... user_can_delete: the permission fields of the API. */
export const PERMISSIONS = KINDS.flatMap((k) => ACTIONS.map((a) => `${k}_can_${a}`));
const camel = (p: string) => p.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

type Member = { name: string; owner?: boolean } & Record<string, unknown>;
type Invitation = { name?: string; workspace?: string; invited_by: string | null } & Record<string, unknown>;

/** `aed` for add, edit, delete; `-` for each missing one. */
const permsOf = (kind: string) => (u: Record<string, unknown>) =>
  ACTIONS.map((a) => (u[`${kind}_can_${a}`] ? a[0] : '-')).join('');

function permissionOptions(c: Command, withNone: boolean): Command {
  c.option('--all', 'every permission');
  if (withNone) c.option('--none', 'no permission (then add some back with the flags)');
  for (const p of PERMISSIONS) {
    const flag = p.replace(/_/g, '-');
    c.option(`--${flag}`, `grant ${p}`).option(`--no-${flag}`, `revoke ${p}`);
  }
  return c;
}

function permissionBody(o: Record<string, unknown>): Record<string, boolean> {
  const body: Record<string, boolean> = {};
  if (o.all && o.none) throw usage('give --all or --none, not both');
  for (const p of PERMISSIONS) {
    if (o.all) body[p] = true;
    if (o.none) body[p] = false;
    const v = o[camel(p)];
    if (typeof v === 'boolean') body[p] = v;
  }
  return body;
}

export function workspaceCommands(program: Command): void {
  const ws = program.command('workspaces').description('workspaces you belong to');
  ws.command('list')
    .description('workspaces you belong to (an admin sees all); * marks the default')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = (await client.list<{ name: string }>('/workspaces/', 'workspaces')).map((w) => ({
        ...w,
        default: w.name === client.cfg.workspace,
      }));
      printList(o.json, rows, [
        ['NAME', (w) => w.name],
        ['DEFAULT', (w) => (w.default ? '*' : '')],
      ]);
    });
  ws.command('create')
    .description('create a workspace; you own it (every permission; only you delete it or hand it over)')
    .argument('<name>', 'workspace name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('POST', '/workspaces/', { body: { name } });
      if (!client.cfg.workspace) {
        client.cfg.workspace = name;
        client.save();
        note(`workspace ${name} created (and is now the default)`);
      } else note(`workspace ${name} created`);
    });
  waitable(ws.command('delete'))
    .description(
      'delete a workspace you own (or, as an admin, any): a task deletes its VMs, routers and networks, then it',
    )
    .argument('<name>', 'workspace name')
    .action(async (name: string, o: WaitOptions, cmd: Command) => {
      const client = Client.of(cmd);
      await submit(
        client,
        name,
        'DELETE',
        '/workspaces/',
        { owner: name },
        `workspace ${name}`,
        o,
        async (t) => ({
          json: t,
          text: `workspace ${name} deleted`,
        }),
      );
      if (client.cfg.workspace === name) {
        client.cfg.workspace = undefined;
        client.save();
      }
    });
  ws.command('rename')
    .description('rename a workspace you own (its VMs, networks, members and tasks stay)')
    .argument('<name>', 'workspace name')
    .argument('<new-name>', 'its new name')
    .action(async (name: string, newName: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('PUT', `/workspaces/${seg(name)}/`, { body: { name: newName } });
      if (client.cfg.workspace === name) {
        client.cfg.workspace = newName;
        client.save();
      }
      note(`workspace ${name} is now ${newName}`);
    });
  ws.command('give')
    .description('hand a workspace you own over to another member (you stay a member)')
    .argument('<name>', 'workspace name')
    .argument('<user>', 'the member who becomes the owner')
    .action(async (name: string, user: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('PUT', `/workspaces/${seg(name)}/`, { body: { owner: user } });
      note(`${user} owns ${name} now`);
    });
  ws.command('leave')
    .description('leave a workspace (its owner hands it over first)')
    .argument('<name>', 'workspace name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      const me = client.cfg.username;
      if (!me) throw usage('not logged in: run kloudak login');
      await client.inventory('DELETE', `/${seg(name)}/users/${seg(me)}/`);
      if (client.cfg.workspace === name) {
        client.cfg.workspace = undefined;
        client.save();
      }
      note(`you left ${name}`);
    });
  ws.command('use')
    .description('make a workspace the default of --workspace')
    .argument('<name>', 'workspace name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('GET', `/workspaces/${seg(name)}/`);
      client.cfg.workspace = name;
      client.save();
      note(`default workspace: ${name}`);
    });

  const users = program.command('users').description('members of a workspace and their permissions');
  wsOption(users.command('list'))
    .description('members; permissions shown as a(dd) e(dit) d(elete) per kind')
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = await client.list<Member>(`/${seg(client.workspace(o.workspace))}/users/`, 'users');
      printList(o.json, rows, [
        ['NAME', (u) => u.name],
        ['OWNER', (u) => (u.owner ? '*' : '')],
        ['VMS', permsOf('vm')],
        ['NETWORKS', permsOf('network')],
        ['ROUTERS', permsOf('router')],
        ['USERS', permsOf('user')],
      ]);
    });
  permissionOptions(wsOption(users.command('add')), false)
    .description(
      'invite a user (a member once it accepts: kloudak invitations accept <ws>); only flags you hold',
    )
    .argument('<user>', 'user name')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        o: Record<string, unknown> & { workspace?: string; json?: boolean },
        cmd: Command,
      ) => {
        const client = Client.of(cmd);
        const w = client.workspace(o.workspace);
        const r = await client.inventory<Record<string, unknown>>('POST', `/${seg(w)}/users/`, {
          body: { name, ...permissionBody(o) },
        });
        if (o.json) printObject(true, r);
        else note(`${name} invited to ${w}; a member once it accepts (kloudak invitations accept ${w})`);
      },
    );
  wsOption(users.command('invited'))
    .description("the workspace's pending invitations")
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const r = await client.inventory<{ invitations: Invitation[] }>(
        'GET',
        `/${seg(client.workspace(o.workspace))}/invitations/`,
      );
      printList(o.json, r.invitations, [
        ['NAME', (i) => i.name],
        ['INVITED BY', (i) => i.invited_by],
        ['VMS', permsOf('vm')],
        ['NETWORKS', permsOf('network')],
        ['ROUTERS', permsOf('router')],
        ['USERS', permsOf('user')],
      ]);
    });
  wsOption(users.command('uninvite'))
    .description('cancel a pending invitation')
    .argument('<user>', 'the name invited')
    .action(async (name: string, o: { workspace?: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const w = client.workspace(o.workspace);
      await client.inventory('DELETE', `/${seg(w)}/invitations/${seg(name)}/`);
      note(`invitation of ${name} to ${w} cancelled`);
    });
  permissionOptions(wsOption(users.command('edit')), true)
    .description("change a member's permissions (only the flags given change)")
    .argument('<user>', 'user name')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        o: Record<string, unknown> & { workspace?: string; json?: boolean },
        cmd: Command,
      ) => {
        const body = permissionBody(o);
        if (!Object.keys(body).length)
          throw usage('nothing to change: give permission flags (see --help)', 'permissions');
        const client = Client.of(cmd);
        const m = await client.inventory<Member>(
          'PUT',
          `/${seg(client.workspace(o.workspace))}/users/${seg(name)}/`,
          { body },
        );
        printObject(o.json, m);
      },
    );
  wsOption(users.command('remove'))
    .description('remove a member from the workspace (you must hold every permission it holds)')
    .argument('<user>', 'user name')
    .action(async (name: string, o: { workspace?: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const w = client.workspace(o.workspace);
      await client.inventory('DELETE', `/${seg(w)}/users/${seg(name)}/`);
      note(`${name} removed from ${w}`);
    });
}

export function invitationCommands(program: Command): void {
  const inv = program.command('invitations').description('invitations to workspaces you received');
  inv
    .command('list')
    .description('invitations waiting for your answer')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const r = await client.inventory<{ invitations: Invitation[] }>('GET', '/invitations/');
      printList(o.json, r.invitations, [
        ['WORKSPACE', (i) => i.workspace],
        ['INVITED BY', (i) => i.invited_by],
        ['VMS', permsOf('vm')],
        ['NETWORKS', permsOf('network')],
        ['ROUTERS', permsOf('router')],
        ['USERS', permsOf('user')],
      ]);
    });
  inv
    .command('accept')
    .description('join the workspace with the permissions you were invited with')
    .argument('<workspace>', 'workspace name')
    .action(async (ws: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('POST', `/invitations/${seg(ws)}/`);
      if (!client.cfg.workspace) {
        client.cfg.workspace = ws;
        client.save();
      }
      note(`you are a member of ${ws}`);
    });
  inv
    .command('decline')
    .description('refuse an invitation')
    .argument('<workspace>', 'workspace name')
    .action(async (ws: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('DELETE', `/invitations/${seg(ws)}/`);
      note(`invitation to ${ws} declined`);
    });
}
