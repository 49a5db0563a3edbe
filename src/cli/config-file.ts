// The CLI's own settings: where the services are, who is logged in, the default workspace. One JSON file,
// $XDG_CONFIG_HOME/kloudak/config.json (~/.config/kloudak/config.json), or the file given by --config;
// written with mode 0600 because it holds the token and the login session.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface CliConfig {
  inventory_url?: string;
  controller_url?: string;
  notification_url?: string;
  username?: string;
  /** The latest access token (short-lived; renewed through the session). */
  token?: string;
  /** The inventory login session (the kloudak_session cookie), used to renew the token. */
  session?: string;
  /** Default for --workspace (`kloudak workspaces use <ws>`). */
  workspace?: string;
}

export function configPath(explicit?: string): string {
  if (explicit) return resolve(explicit);
  const base =
    process.env.XDG_CONFIG_HOME && process.env.XDG_CONFIG_HOME.startsWith('/')
      ? process.env.XDG_CONFIG_HOME
      : join(homedir(), '.config');
  return join(base, 'kloudak', 'config.json');
}

export function readConfig(path: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  const parsed: unknown = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new Error(`${path}: not a JSON object`);
  return parsed;
}

/** Replaces the file atomically (temp file, then rename), mode 0600 from the start. */
export function writeConfig(path: string, cfg: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const clean = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined && v !== ''));
  writeFileSync(tmp, `${JSON.stringify(clean, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
