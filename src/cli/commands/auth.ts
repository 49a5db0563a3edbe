// `kloudak login`, `kloudak logout`, `kloudak passwd` (your own password) and `kloudak accounts` (admins).
import type { Command } from 'commander';
import type { TokenAnswer } from '../../lib/contracts/inventory.ts';
import { CliError, Client, EXIT, errorOf, rawRequest, seg, sessionOf, usage } from './client.ts';
import { ask, note, printObject } from './output.ts';

const trim = (u: string) => u.replace(/\/+$/, '');

function checkedUrl(value: string, option: string, protocols: string[]): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CliError(`${option}: ${value} is not a URL`, EXIT.usage, option.replace(/^--/, ''));
  }
  if (!protocols.includes(u.protocol))
    throw new CliError(
      `${option}: must start with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      EXIT.usage,
      option.replace(/^--/, ''),
    );
  return trim(value);
}

/** The controller or notification URL on the inventory's host, at the default port. */
function sibling(inventory: string, kind: 'controller' | 'notification'): string {
  const u = new URL(inventory);
  const secure = u.protocol === 'https:';
  if (kind === 'controller') return `${u.protocol}//${u.hostname}:8000`;
  return `${secure ? 'wss' : 'ws'}://${u.hostname}:3000`;
}

interface LoginOptions {
  user?: string;
  password?: string;
  inventory?: string;
  controller?: string;
  notification?: string;
}

export function authCommands(program: Command): void {
  program
    .command('login')
    .description('log in to inventory and keep the token and service URLs in the config file')
    .option('-u, --user <name>', 'user name (asked when not given)')
    .option(
      '-p, --password <password>',
      'password (asked when not given; read from stdin when it is not a terminal)',
    )
    .option(
      '--inventory <url>',
      'inventory URL (default: the last one, $KLOUDAK_INVENTORY_URL or http://127.0.0.1:5000)',
    )
    .option('--controller <url>', "controller URL (default: the inventory's host, port 8000)")
    .option('--notification <url>', "notification URL (default: ws:// on the inventory's host, port 3000)")
    .action(async (o: LoginOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const cfg = client.cfg;
      const env = process.env;
      const inventory = checkedUrl(
        o.inventory ?? cfg.inventory_url ?? env.KLOUDAK_INVENTORY_URL ?? 'http://127.0.0.1:5000',
        '--inventory',
        ['http:', 'https:'],
      );
      const keep = !o.inventory || trim(o.inventory) === cfg.inventory_url;
      const controller = checkedUrl(
        o.controller ??
          (keep ? cfg.controller_url : undefined) ??
          (o.inventory ? undefined : env.KLOUDAK_CONTROLLER_URL) ??
          sibling(inventory, 'controller'),
        '--controller',
        ['http:', 'https:'],
      );
      const notification = checkedUrl(
        o.notification ??
          (keep ? cfg.notification_url : undefined) ??
          (o.inventory ? undefined : env.KLOUDAK_NOTIFICATION_URL) ??
          sibling(inventory, 'notification'),
        '--notification',
        ['ws:', 'wss:'],
      );
      const username = o.user ?? (await ask('Username: '));
      const password = o.password ?? (await ask('Password: ', true));
      if (!username) throw new CliError('a user name is needed', EXIT.usage, 'username');
      if (!password) throw new CliError('a password is needed', EXIT.usage, 'password');
      const r = await rawRequest('POST', `${inventory}/login/`, {}, { username, password });
      if (r.status !== 200) {
        const e = errorOf(r, 'login');
        throw new CliError(e.message, r.status === 429 ? EXIT.auth : e.code, e.field);
      }
      const sameUser = cfg.username === username && cfg.inventory_url === inventory;
      client.cfg = {
        ...cfg,
        inventory_url: inventory,
        controller_url: controller,
        notification_url: notification,
        username,
        token: (r.body as TokenAnswer).token,
        session: sessionOf(r.headers),
        workspace: sameUser ? cfg.workspace : undefined,
      };
      client.save();
      note(`Logged in to ${inventory} as ${username} (settings in ${client.path}).`);
    });

  program
    .command('logout')
    .description('end the login session; every token of yours stops working on every service')
    .action(async (_o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      const { session, inventory_url, token } = client.cfg;
      if ((session || token) && inventory_url)
        await rawRequest(
          'POST',
          `${inventory_url}/logout/`,
          { ...(session ? { cookie: `kloudak_session=${session}` } : {}), ...(token ? { token } : {}) },
          undefined,
          10,
        ).catch(() => undefined);
      client.cfg = { ...client.cfg, token: undefined, session: undefined, username: undefined };
      client.save();
      note('Logged out.');
    });

  program
    .command('passwd')
    .description(
      "change your password (the generated admin's too); your other sessions and tokens end, this login stays",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      const { inventory_url, token, session } = client.cfg;
      if (!inventory_url || !token) throw usage('not logged in: run kloudak login');
      const current = await ask('Current password: ', true);
      const password = await ask('New password: ', true);
      if (process.stdin.isTTY && (await ask('New password again: ', true)) !== password)
        throw usage('the new passwords differ', 'password');
      const r = await rawRequest(
        'PUT',
        `${inventory_url}/password/`,
        { token, ...(session ? { cookie: `kloudak_session=${session}` } : {}) },
        { current, password },
      );
      if (r.status !== 200) throw errorOf(r, 'passwd');
      client.cfg = {
        ...client.cfg,
        token: (r.body as TokenAnswer).token,
        session: sessionOf(r.headers) ?? session,
      };
      client.save();
      note('Password changed; your other sessions and tokens have ended.');
    });

  const accounts = program.command('accounts').description('user accounts (admins)');
  const account = (verb: string, description: string, body: () => Promise<Record<string, unknown>>) =>
    accounts
      .command(verb)
      .description(description)
      .argument('<user>', 'user name')
      .option('--json', 'print JSON')
      .action(async (user: string, o: { json?: boolean }, cmd: Command) => {
        const client = Client.of(cmd);
        const a = await client.inventory<Record<string, unknown>>('PUT', `/accounts/${seg(user)}/`, {
          body: await body(),
        });
        printObject(o.json, a);
      });
  account('disable', 'disable an account: it cannot log in and its tokens stop working', async () => ({
    disabled: true,
  }));
  account('enable', 'enable a disabled account', async () => ({ disabled: false }));
  account(
    'reset-password',
    "set a user's password (asked, or read from stdin); its logins end",
    async () => ({
      password: await ask('New password: ', true),
    }),
  );
}
