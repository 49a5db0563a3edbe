// A user's #cloud-config (POST /vms/ `user_data`), checked where the request arrives (the controller answers
// 400 naming the field) and merged with what the platform must set when compute writes the seed. The
// platform's keys win: the hostname is the VM's name, the network is the seed's network-config (a `network`
// key is dropped), and a password given with the request sets `password` and turns SSH passwords on. Without
// one, `ssh_pwauth` is false unless the user's document gives a password itself (password, chpasswd, users)
// and asks for it: a VM made with a key and no password has password SSH off. The user's
// `ssh_authorized_keys` are kept, after the keys named by `ssh_keys`; the request's `runcmd` runs after the
// user's.
import { Document, parseDocument, isMap } from 'yaml';
import { inputError } from './errors.ts';
import { parseSshPublicKey, SshKeyError } from './sshkeys.ts';
import { USER_DATA_MAX_BYTES } from './contracts/common.ts';

export { USER_DATA_MAX_BYTES };
const HEADER = '#cloud-config';
/** Keys of the user's document that the platform decides alone. */
const PLATFORM_KEYS = ['hostname', 'fqdn', 'preserve_hostname', 'network'];
/** Keys by which a #cloud-config gives a password. */
const PASSWORD_KEYS = ['password', 'chpasswd', 'users'];

export type CloudConfig = Record<string, unknown>;

/** Checks user-data; answers it as an object, or throws a 400 naming `user_data` (or the key inside it). */
export function checkUserData(text: string, field = 'user_data'): CloudConfig {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > USER_DATA_MAX_BYTES)
    throw inputError(field, `${field} is ${bytes} bytes; at most ${USER_DATA_MAX_BYTES} are taken`);
  if (text.split('\n', 1)[0].trimEnd() !== HEADER)
    throw inputError(field, `${field} must begin with a "${HEADER}" line`);
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0] ?? doc.warnings[0];
  if (err) throw inputError(field, `${field} is not valid YAML: ${err.message.split('\n')[0]}`);
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw inputError(field, `${field} must be a YAML mapping (key: value lines)`);
  // A plain tree (JSON): a document whose aliases expand too far or refer to themselves is refused, and
  // the merged document has no shared nodes (which would be written as anchors the guest does not read).
  let json: string;
  try {
    json = JSON.stringify(doc.toJS({ maxAliasCount: 100 }));
  } catch (e) {
    throw inputError(field, `${field} is not valid YAML: ${(e as Error).message}`);
  }
  if (Buffer.byteLength(json) > 4 * USER_DATA_MAX_BYTES)
    throw inputError(field, `${field} expands (its aliases) to more than ${4 * USER_DATA_MAX_BYTES} bytes`);
  const cc = JSON.parse(json) as CloudConfig;
  const keys = cc.ssh_authorized_keys;
  if (keys !== undefined) {
    const f = `${field}.ssh_authorized_keys`;
    if (!Array.isArray(keys)) throw inputError(f, `${f} must be a list of public keys`);
    keys.forEach((k: unknown, i) => {
      if (typeof k !== 'string') throw inputError(f, `${f}[${i}] is not a string`);
      try {
        parseSshPublicKey(k);
      } catch (e) {
        if (e instanceof SshKeyError) throw inputError(f, `${f}[${i}]: ${e.message}`);
        throw e;
      }
    });
  }
  return cc;
}

export interface PlatformCloudConfig {
  hostname: string;
  password?: string;
  /** Public key lines, from the request's `ssh_keys`. */
  sshKeys?: string[];
  runcmd?: string[];
}

/** The merged #cloud-config document, platform keys first, in the YAML subset the test guest reads. */
export function mergeUserData(platform: PlatformCloudConfig, userData?: string): string {
  const user: CloudConfig = userData ? checkUserData(userData) : {};
  for (const k of PLATFORM_KEYS) delete user[k];
  const out: CloudConfig = { hostname: platform.hostname };
  if (platform.password !== undefined) {
    delete user.chpasswd;
    out.password = platform.password;
    out.chpasswd = { expire: false };
    out.ssh_pwauth = true;
  } else {
    if (user.password !== undefined) out.password = user.password;
    // Password logins only where the user's own document gives a password some way cloud-init knows.
    const givesPassword = PASSWORD_KEYS.some((k) => user[k] !== undefined);
    out.ssh_pwauth = givesPassword ? (user.ssh_pwauth ?? false) : false;
  }
  delete user.password;
  delete user.ssh_pwauth;
  const keys = [...(platform.sshKeys ?? []), ...((user.ssh_authorized_keys as string[] | undefined) ?? [])];
  delete user.ssh_authorized_keys;
  if (keys.length) out.ssh_authorized_keys = [...new Set(keys)];
  const userRun = Array.isArray(user.runcmd) ? (user.runcmd as unknown[]) : [];
  delete user.runcmd;
  Object.assign(out, user);
  const runcmd = [...userRun, ...(platform.runcmd ?? [])];
  if (runcmd.length) out.runcmd = runcmd;
  // lineWidth 0: no folded lines (the guest reads each scalar on one line); block lists.
  return `${HEADER}\n${new Document(out, { aliasDuplicateObjects: false }).toString({ lineWidth: 0, minContentWidth: 0 })}`;
}
