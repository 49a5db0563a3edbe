// The one-machine parts of `kloudak up` (src/cli/run.ts upCommand): the admin password kept in the data dir,
// a lab of N hosts registered as this cloud's hosts with the test guest template and fenced by the lab's
// own agent, and the closing summary.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config, ConfigKey } from '../../lib/config.ts';
import { labPaths, NET } from '../../lab/state.ts';

interface AdminPassword {
  file: string;
  /** 'env': from KLOUDAK_ADMIN_PASSWORD; 'file': kept from an earlier start; 'new': generated now. */
  source: 'env' | 'file' | 'new';
}

let admin: AdminPassword | undefined;

const say = (s: string) => process.stdout.write(`${s}\n`);
const warn = (s: string) => process.stderr.write(`kloudak: ${s}\n`);

/** Hosts of the lab `kloudak up --hosts N` brings up (two or more show failover). */
export function upLabHosts(given?: string): number {
  const n = Number(given ?? '1');
  if (!Number.isInteger(n) || n < 1 || n > 8) {
    warn('--hosts must be 1 to 8');
    process.exit(2);
  }
  return n;
}

/** Where `kloudak up` keeps its lab: KLOUDAK_LAB_DIR, else <data dir>/lab. */
export const upLabDir = (config: Config) => config.LAB_DIR ?? join(config.DATA_DIR, 'lab');

// `kloudak lab fence`, run by compute as this machine's fence agent: the words of FENCE_COMMAND.
const BIN = fileURLToPath(new URL('../../../bin/kloudak.js', import.meta.url));
const labFenceCommand = () => [process.execPath, BIN, 'lab', 'fence'];

/** --no-lab or KLOUDAK_UP_LAB=0 turn the lab off. The variable is not a service setting: taken out of the environment. */
export function upLabWanted(flag?: boolean): boolean {
  const env = process.env.KLOUDAK_UP_LAB;
  delete process.env.KLOUDAK_UP_LAB;
  if (flag === false) return false;
  return !(env !== undefined && ['0', 'false', 'no', 'off'].includes(env.trim().toLowerCase()));
}

/**
 * The admin password: the configured one, else the one in <data dir>/admin-password (mode 0600), else a new
 * one written there before inventory creates the admin with it (so it is known later, e.g. to register the
 * lab). With the lab on, compute, network and monitoring reach its hosts with the lab's SSH key.
 */
export async function upOverrides(config: Config, lab: boolean): Promise<Partial<Record<ConfigKey, string>>> {
  const out: Partial<Record<ConfigKey, string>> = {};
  const file = join(config.DATA_DIR, 'admin-password');
  if (config.ADMIN_PASSWORD) admin = { file, source: 'env' };
  else {
    let password: string | undefined;
    try {
      password = readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      /* first start */
    }
    admin = { file, source: password ? 'file' : 'new' };
    if (!password) {
      password = randomBytes(12).toString('base64url');
      mkdirSync(config.DATA_DIR, { recursive: true, mode: 0o700 });
      writeFileSync(file, `${password}\n`, { mode: 0o600 });
    }
    out.ADMIN_PASSWORD = password;
  }
  if (lab && !config.SSH_KEY) {
    const p = labPaths(upLabDir(config));
    out.SSH_KEY = p.key;
    out.SSH_KNOWN_HOSTS = config.SSH_KNOWN_HOSTS ?? p.knownHosts;
  }
  // Monitoring confirms a silent host by pinging its guests from this machine, the lab's public gateway:
  // those pings pass every security group.
  if (lab && !config.SG_PROBE_SOURCES) out.SG_PROBE_SOURCES = `${NET.publicPrefix}.1`;
  // The lab is this cloud's own: a failed lab host is fenced by the lab's agent before its guests restart
  // elsewhere. FENCE_COMMAND is split at spaces, so a path with one cannot be said there.
  if (lab && !config.FENCE_COMMAND) {
    const words = labFenceCommand();
    if (words.some((w) => /\s/.test(w)))
      warn(`no fence agent for the lab: a space in ${words.join(' ')}; set KLOUDAK_FENCE_COMMAND`);
    else out.FENCE_COMMAND = words.join(' ');
  }
  return out;
}

async function adminToken(config: Config): Promise<string | undefined> {
  const { callJson } = await import('../../lib/httpclient.ts');
  type Answer = { status: number; body: { token?: string; error?: string } };
  const r: Answer = await callJson<Answer['body']>('POST', `${config.INVENTORY_URL}/login/`, {
    body: { username: config.ADMIN_USER, password: config.ADMIN_PASSWORD },
    retries: 3,
  }).catch((e: Error) => ({ status: 0, body: { error: e.message } }));
  if (r.status === 200 && r.body.token) return r.body.token;
  if (r.status === 401 && admin?.source !== 'env') {
    // The admin was made before this file existed, with a password shown once: the file's is not it.
    rmSync(admin!.file, { force: true });
    admin!.source = 'env';
    warn(
      `the admin ${config.ADMIN_USER} predates ${admin!.file}; its password is the one shown at its first start (set KLOUDAK_ADMIN_PASSWORD to let kloudak up use it)`,
    );
  } else warn(`cannot log in as ${config.ADMIN_USER}: ${r.body.error ?? r.status}`);
  return undefined;
}

/** After every service is up: the lab (unless off), then where the dashboard is and how to log in. */
export async function upLab(config: Config, lab: boolean, hosts = 1): Promise<void> {
  const token = await adminToken(config);
  if (lab && token) {
    try {
      const { labStatus, labUp } = await import('../../lab/index.ts');
      const { netnsList } = await import('../../lab/net.ts');
      const { registerLab } = await import('../lab-register.ts');
      const stateDir = upLabDir(config);
      // Lab hosts have fixed names and addresses, and labUp removes hosts it does not want: never touch a lab
      // another state directory (`kloudak lab up`, the system tests) runs.
      const mine = new Set((await labStatus(stateDir)).hosts.map((h) => h.name));
      const foreign = (await netnsList()).filter((n) => /^kl-h\d+$/.test(n) && !mine.has(n));
      if (foreign.length)
        throw new Error(
          `another lab runs on this machine (${foreign.join(', ')}), not from ${stateDir}; left alone`,
        );
      process.stderr.write(
        `bringing up a lab of ${hosts} host${hosts > 1 ? 's' : ''} in ${stateDir} (kloudak up --no-lab to skip)\n`,
      );
      const s = await labUp({ hosts, stateDir, log: (l) => process.stderr.write(`lab: ${l}\n`) });
      const r = await registerLab(s, config.INVENTORY_URL, token);
      say(
        `Lab host${r.hosts.length > 1 ? 's' : ''} ${r.hosts.join(', ')} registered: area ${r.area}, pool ${r.pool}, template ${r.template}.`,
      );
      if (r.hosts.length > 1)
        say(
          `Failover: kloudak lab cut <host> pulls a host's cables, kloudak lab restore <host> plugs them back (docs/lab.md).`,
        );
    } catch (e) {
      warn(
        `the lab did not come up: ${(e as Error).message} (the services run on; kloudak up --no-lab skips the lab)`,
      );
    }
  } else if (lab) warn('the lab was not registered: no admin token');
  const url = `http://127.0.0.1:${config.INVENTORY_PORT}/`;
  say('');
  say(`Dashboard: ${url}`);
  if (admin?.source === 'new' && token)
    say(
      `Admin:     ${config.ADMIN_USER} / ${config.ADMIN_PASSWORD}   (generated now; kept in ${admin.file})`,
    );
  else if (admin?.source === 'file') say(`Admin:     ${config.ADMIN_USER} (password in ${admin.file})`);
  else
    say(`Admin:     ${config.ADMIN_USER} (password from KLOUDAK_ADMIN_PASSWORD, or as shown at first start)`);
  const host = (u: string) => new URL(u).hostname;
  const urls = [`--inventory http://127.0.0.1:${config.INVENTORY_PORT}`];
  // `kloudak login` finds the controller and notification on the inventory's host at their default ports.
  if (config.CONTROLLER_PORT !== 8000 || host(config.CONTROLLER_URL) !== '127.0.0.1')
    urls.push(`--controller ${config.CONTROLLER_URL}`);
  if (config.NOTIFICATION_PORT !== 3000 || host(config.NOTIFICATION_URL) !== '127.0.0.1')
    urls.push(`--notification ${config.NOTIFICATION_URL}`);
  say(`CLI:       kloudak login --user ${config.ADMIN_USER} ${urls.join(' ')}`);
  say(
    `Ctrl-C stops every service; the data stays in ${config.DATA_DIR}${lab ? ` and the lab keeps running (kloudak lab down --dir ${upLabDir(config)} stops it)` : ''}.`,
  );
}
