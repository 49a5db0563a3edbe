// Operators' catalogue (admins): `kloudak areas|templates|hosts|pools list|show|create|edit|delete`, and
// `kloudak templates import <file> --pool <pool>`, which copies an image into a pool and registers it.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { CliError, Client, EXIT, seg, usage } from './client.ts';
import { HOST_TASKS } from '../../lib/contracts/common.ts';
import type { Area, Host, Pool, Template } from '../../lib/contracts/inventory.ts';
import { submit, waitable, type WaitOptions } from './tasks.ts';
import { humanGiB, note, printList, printObject } from './output.ts';

/** What the catalogue commands show. */
type Registered = Area | Template | Host | Pool;

interface Field {
  /** API key; the option is --<key with - for _>. */
  key: string;
  help: string;
  type?: 'int' | 'number';
  /** A size in GiB: tables show it in human units (96 MiB, 2 GiB); --json keeps the number. */
  gib?: boolean;
  required?: boolean;
  short?: string;
}

interface Kind {
  plural: 'areas' | 'templates' | 'hosts' | 'pools';
  one: string;
  description: string;
  fields: Field[];
  columns: string[];
}

const KINDS: Kind[] = [
  {
    plural: 'areas',
    one: 'area',
    description: 'areas: failover domains, each with the public subnet its VMs take addresses from',
    fields: [
      { key: 'subnet', help: 'IPv4 subnet, prefix 16-30 (e.g. 10.0.0.0/24)', required: true },
      { key: 'gateway', help: "the subnet's gateway (default: its first address)" },
      { key: 'next_ip', help: 'the next address to hand out' },
    ],
    columns: ['name', 'subnet', 'gateway', 'next_ip'],
  },
  {
    plural: 'templates',
    one: 'template',
    description: 'templates: the base disks VMs are made from',
    fields: [
      { key: 'cpu', help: 'vCPUs', type: 'int', required: true },
      { key: 'ram', help: 'memory in GiB (0.5 = 512 MiB)', type: 'number', gib: true, required: true },
      { key: 'disk', help: 'disk size in GiB', type: 'number', gib: true, required: true },
      { key: 'image', help: 'base disk: absolute, or relative to the pool (default <name>.qcow2)' },
      { key: 'kernel', help: 'kernel for direct boot' },
      { key: 'initrd', help: 'initrd for direct boot' },
      { key: 'cmdline', help: 'kernel command line' },
      { key: 'os', help: 'operating system' },
      { key: 'description', help: 'description' },
    ],
    columns: ['name', 'os', 'cpu', 'ram', 'disk', 'image'],
  },
  {
    plural: 'hosts',
    one: 'host',
    description: 'hypervisor hosts (libvirt over SSH, Open vSwitch)',
    fields: [
      { key: 'address', help: 'management address (SSH)', required: true },
      { key: 'libvirt_uri', help: 'libvirt URI, e.g. qemu+ssh://root@10.0.0.11/system', required: true },
      { key: 'area', help: 'area', required: true },
      { key: 'cpus', help: 'CPUs for guests', type: 'int', required: true },
      { key: 'memory', help: 'memory for guests, GiB', type: 'number', gib: true, required: true },
      { key: 'domain_type', help: 'kvm or qemu (default qemu)' },
    ],
    columns: ['name', 'address', 'area', 'cpus', 'memory', 'domain_type', 'maintenance'],
  },
  {
    plural: 'pools',
    one: 'pool',
    description: 'shared storage pools, mounted at the same path on every host of an area',
    fields: [
      { key: 'path', help: 'the mount path on the hosts', required: true },
      { key: 'area', help: 'area', required: true },
      { key: 'size', help: 'size in GiB', type: 'number', gib: true, required: true },
    ],
    columns: ['name', 'path', 'area', 'size'],
  },
];

const flag = (key: string) => key.replace(/_/g, '-');
const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function bodyOf(k: Kind, o: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of k.fields) {
    const v = o[camel(f.key)];
    if (typeof v !== 'string') continue;
    if (f.type) {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || (f.type === 'int' && !Number.isInteger(n)))
        throw usage(`--${flag(f.key)} must be ${f.type === 'int' ? 'an integer' : 'a number'}`, f.key);
      body[f.key] = n;
    } else body[f.key] = v;
  }
  return body;
}

/** What a table shows of a field's value: sizes in human units. */
function shown(k: Kind, key: string, v: unknown): unknown {
  return k.fields.some((f) => f.key === key && f.gib) && typeof v === 'number' ? humanGiB(v) : v;
}

/** One object: JSON as inventory gave it, or `key: value` lines with sizes in human units. */
function printOne(k: Kind, json: unknown, obj: Record<string, unknown>): void {
  printObject(
    Boolean(json),
    json ? obj : Object.fromEntries(Object.entries(obj).map(([key, v]) => [key, shown(k, key, v)])),
  );
}

function catalogue(program: Command, k: Kind): Command {
  const c = program.command(k.plural).description(`${k.description} (admins)`);
  c.command('list')
    .description(`every ${k.one}`)
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const rows = await Client.of(cmd).list<Record<string, unknown> & { name: string }>(
        `/${k.plural}/`,
        k.plural,
      );
      printList(
        o.json,
        rows,
        k.columns.map((col) => [col.toUpperCase(), (r) => shown(k, col, r[col])]),
      );
    });
  c.command('show')
    .description(`one ${k.one}`)
    .argument('<name>', `${k.one} name`)
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, cmd: Command) => {
      printOne(k, o.json, await Client.of(cmd).inventory<Registered>('GET', `/${k.plural}/${seg(name)}/`));
    });
  const create = c
    .command('create')
    .description(`register a ${k.one}`)
    .argument('<name>', `${k.one} name`)
    .option('--json', 'print JSON');
  const edit = c
    .command('edit')
    .description(`change a ${k.one} (only the options given change)`)
    .argument('<name>', `${k.one} name`)
    .option('--json', 'print JSON');
  for (const f of k.fields) {
    const spec = `--${flag(f.key)} <value>`;
    if (f.required) create.requiredOption(spec, f.help);
    else create.option(spec, f.help);
    edit.option(spec, f.help);
  }
  create.action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
    printOne(
      k,
      o.json,
      await Client.of(cmd).inventory<Registered>('POST', `/${k.plural}/`, {
        body: { name, ...bodyOf(k, o) },
      }),
    );
  });
  edit.action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
    const client = Client.of(cmd);
    const changes = bodyOf(k, o);
    if (!Object.keys(changes).length) throw usage('nothing to change (see --help)');
    const current = await client.inventory<Record<string, unknown>>('GET', `/${k.plural}/${seg(name)}/`);
    // The API replaces the whole object: send what is there, with the changes; empty optionals stay out.
    const keep = Object.fromEntries(
      Object.entries(current).filter(
        ([key, v]) => v !== null && (key === 'name' || k.fields.some((f) => f.key === key)),
      ),
    );
    printOne(
      k,
      o.json,
      await client.inventory<Registered>('PUT', `/${k.plural}/${seg(name)}/`, {
        body: { ...keep, ...changes },
      }),
    );
  });
  c.command('delete')
    .description(`remove a ${k.one} (refused while in use)`)
    .argument('<name>', `${k.one} name`)
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await Client.of(cmd).inventory<unknown>('DELETE', `/${k.plural}/${seg(name)}/`);
      note(`${k.one} ${name} deleted`);
    });
  return c;
}

/** Virtual size in GiB (qemu-img info when installed, else the file size), at least 1. */
async function diskGiB(file: string): Promise<number> {
  let bytes = (await stat(file)).size;
  try {
    const { stdout } = await promisify(execFile)('qemu-img', ['info', '--output=json', file]);
    bytes = Number((JSON.parse(stdout) as { 'virtual-size'?: unknown })['virtual-size']) || bytes;
  } catch {
    /* no qemu-img: the file size will do */
  }
  return Math.max(1, Math.ceil(bytes / 2 ** 30));
}

interface ImportOptions {
  pool: string;
  name?: string;
  poolDir?: string;
  cpu: string;
  ram: string;
  disk?: string;
  os?: string;
  description?: string;
  force?: boolean;
  json?: boolean;
}

function importCommand(templates: Command): void {
  templates
    .command('import')
    .description(
      'copy an image into a pool and register it as a template. The pool must be mounted on this machine: at ' +
        'its path, or at --pool-dir. The image lands in <pool>/templates/<name>/ and the template names it ' +
        'relative to the pool (import it into every pool of the area).',
    )
    .argument('<file>', 'qcow2 or raw disk image')
    .requiredOption('--pool <pool>', 'pool to copy into (kloudak pools list)')
    .option('--name <template>', 'template name (default: the file name without extension)')
    .option('--pool-dir <dir>', "where the pool is mounted on this machine (default: the pool's path)")
    .option('--cpu <n>', 'vCPUs', '1')
    .option('--ram <GiB>', 'memory in GiB', '1')
    .option('--disk <GiB>', "disk size in GiB (default: the image's virtual size)")
    .option('--os <os>', 'operating system')
    .option('--description <text>', 'description')
    .option('--force', 'replace an image file and template of the same name')
    .option('--json', 'print JSON')
    .action(async (file: string, o: ImportOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const src = await stat(file).catch(() => undefined);
      if (!src?.isFile()) throw usage(`${file}: no such file`, 'file');
      const name = o.name ?? basename(file, extname(file));
      const pool = await client.inventory<Pool>('GET', `/pools/${seg(o.pool)}/`);
      const dir = o.poolDir ?? pool.path;
      if (!(await stat(dir).catch(() => undefined))?.isDirectory())
        throw usage(
          `pool directory ${dir} is not on this machine: mount the pool here or give --pool-dir`,
          'pool-dir',
        );
      const relative = join('templates', name, basename(file));
      const target = join(dir, relative);
      const existed = Boolean(await stat(target).catch(() => undefined));
      if (existed && !o.force) throw usage(`${target} exists (--force replaces it)`, 'file');
      const body = bodyOf(KINDS[1], {
        cpu: o.cpu,
        ram: o.ram,
        disk: o.disk ?? String(await diskGiB(file)),
        os: o.os,
        description: o.description,
      });
      await mkdir(join(dir, 'templates', name), { recursive: true, mode: 0o755 });
      const tmp = `${target}.importing`;
      note(`copying ${file} to ${target}`);
      await copyFile(file, tmp);
      await rename(tmp, target);
      try {
        const t = { name, ...body, image: relative };
        let out = await client
          .inventory<Template>('POST', '/templates/', { body: t })
          .catch(async (e: unknown) => {
            if (!(e instanceof CliError && e.code === EXIT.usage && e.field === 'name' && o.force)) throw e;
            return undefined;
          });
        out ??= await client.inventory<Template>('PUT', `/templates/${seg(name)}/`, { body: t });
        printObject(o.json, out);
      } catch (e) {
        if (!existed) await rm(target, { force: true });
        throw e;
      }
    });
}

/** `hosts drain <host>` / `hosts restore <host>`: maintenance through the controller (admins). */
function maintenanceCommands(hosts: Command): void {
  type Opts = WaitOptions & { parallel?: string; breakAffinity?: boolean };
  const change = (path: string, host: string, o: Opts, cmd: Command) => {
    const body: Record<string, unknown> = { host };
    if (o.breakAffinity) body.break_affinity = true;
    if (o.parallel !== undefined) {
      const n = Number(o.parallel);
      if (!Number.isInteger(n) || n < 1 || n > 64)
        throw usage('--parallel must be a whole number from 1 to 64', 'parallel');
      body.parallel = n;
    }
    return submit(Client.of(cmd), HOST_TASKS, 'POST', path, body, `host ${host}`, o);
  };
  waitable(hosts.command('drain'))
    .description('take a host out of placement and move its running VMs live to other hosts of its area')
    .argument('<host>', 'host name')
    .option('--parallel <n>', 'VMs moved at once (default 2)')
    .option(
      '--break-affinity',
      'move a VM even onto a host that runs another VM of its anti-affinity group (default: it stays, named)',
    )
    .action((host: string, o: Opts, cmd: Command) => change('/hosts/drain/', host, o, cmd));
  waitable(hosts.command('restore'))
    .description('put a drained host back into placement')
    .argument('<host>', 'host name')
    .action((host: string, o: WaitOptions, cmd: Command) => change('/hosts/restore/', host, o, cmd));
}

export function operatorCommands(program: Command): void {
  for (const k of KINDS) {
    const c = catalogue(program, k);
    if (k.plural === 'templates') importCommand(c);
    if (k.plural === 'hosts') maintenanceCommands(c);
  }
}
