// The libvirt URIs the platform connects to. A URI is an operator's input that virsh acts on: its transport
// and query parameters can turn host key checks off (`no_verify=1`, `known_hosts_verify=ignore`) or run a
// program (`qemu+ext://?command=`, `netcat=`, `proxy=`). Only SSH transports with the parameters the platform
// itself sets are accepted: checked where a host is registered (a 400 naming libvirt_uri) and again where a
// URI reaches virsh, since a row may predate the rule or come from elsewhere.

/** Absolute path of safe characters, no `..` segment. */
const PATH = /^\/(?:[A-Za-z0-9_.+-]+\/)*[A-Za-z0-9_.+-]+$/;
const isPath = (v: string) => PATH.test(v) && !v.split('/').includes('..');

type ParamRule = (value: string) => boolean;
const PARAMS: Record<string, Record<string, ParamRule>> = {
  // libssh reads the known_hosts file itself: the platform sets the file and normal checking.
  'qemu+libssh:': {
    keyfile: isPath,
    known_hosts: isPath,
    known_hosts_verify: (v) => v === 'normal',
    sshauth: (v) => v.split(',').every((m) => m === 'privkey' || m === 'agent'),
  },
  // The ssh binary checks ~/.ssh/known_hosts (and cannot ask without a terminal).
  'qemu+ssh:': { keyfile: isPath, no_tty: (v) => v === '1' },
};

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const HOST = /^(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$|^\[[0-9A-Fa-f:.]+\]$/;

/** Why a libvirt URI is refused, or undefined when it is acceptable. */
export function libvirtUriProblem(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'not a URI';
  }
  const params = PARAMS[u.protocol];
  if (!params) return `transport ${u.protocol.replace(/:$/, '')} is not allowed: use qemu+ssh or qemu+libssh`;
  if (!u.hostname || !HOST.test(u.hostname)) return 'needs a host name or address';
  if (u.password) return 'must not carry a password';
  if (u.username && !USER.test(decodeURIComponent(u.username))) return 'user name not allowed';
  if (u.pathname !== '/system') return 'path must be /system';
  if (u.hash) return 'must not have a fragment';
  const seen = new Set<string>();
  for (const [key, value] of u.searchParams) {
    const rule = params[key];
    if (!rule) return `parameter ${key} is not allowed`;
    if (seen.has(key)) return `parameter ${key} given twice`;
    seen.add(key);
    if (!rule(value)) return `parameter ${key} has a value that is not allowed`;
  }
  return undefined;
}

/** Throws when a URI is refused: the last defence before virsh. */
export function assertLibvirtUri(uri: string): string {
  const problem = libvirtUriProblem(uri);
  if (problem) throw new Error(`refusing libvirt URI: ${problem}`);
  return uri;
}
