// The operators' catalogue: templates, areas, hosts, pools. Admins write them; templates and areas are read
// by everyone signed in, hosts and pools by admins and services only. An area's subnet and gateway follow
// the rules of its leased addresses.
import type { Insertable } from 'kysely';
import { requireAdmin, serviceHolds, type Principal, type ServiceRight } from '../../lib/auth.ts';
import type {
  Area,
  AreaBody,
  Host,
  HostBody,
  PlacedVm,
  Pool,
  PoolBody,
  Template,
  TemplateBody,
} from '../../lib/contracts/inventory.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import { formatIp, inSubnet, parseIp, parseSubnet } from '../../lib/ipv4.ts';
import { libvirtUriProblem } from '../../lib/libvirt-uri.ts';
import type { Page, Repositories, Store } from '../repositories/index.ts';
import type { InventoryDB } from '../schema.ts';

export interface CatalogueService<Body, View> {
  list(p: Principal, page: Page): Promise<View[]>;
  get(p: Principal, name: string): Promise<View>;
  create(p: Principal, body: Body): Promise<View>;
  /** Replaces the whole object (a new name renames it). */
  replace(p: Principal, name: string, body: Body): Promise<View>;
  remove(p: Principal, name: string): Promise<{ name: string; deleted: true }>;
}

/** What the catalogue service needs of a kind's repository. */
interface KindRepository<View, Row> {
  list(page: Page): Promise<View[]>;
  one(name: string): Promise<View | undefined>;
  row(name: string): Promise<({ id: number } & Row) | undefined>;
  insert(row: Row): Promise<void>;
  update(id: number, row: Row): Promise<void>;
  remove(name: string): Promise<bigint>;
}

interface Kind<Body, View, Row> {
  kind: string;
  /** Who may read: everyone signed in, or admins and services only. */
  readers: 'all' | 'operators';
  repo: KindRepository<View, Row>;
  /** Body -> row, resolving names (throws input errors naming the field). */
  toRow(b: Body): Promise<Row>;
  /** Rules a replacement must keep (an area's leased addresses). */
  check?(existing: { id: number } & Row, row: Row): Promise<void>;
  /** A service holding `right` may replace a record changing only these fields (the controller's drain). */
  serviceReplace?: { right: ServiceRight; fields: readonly (keyof Row)[] };
}

function catalogueKind<Body extends { name: string }, View, Row>(
  k: Kind<Body, View, Row>,
): CatalogueService<Body, View> {
  const canRead = (p: Principal) => {
    if (k.readers === 'operators' && !p.isAdmin && !serviceHolds(p, 'catalogue.read'))
      throw notAllowed(`only admins see ${k.kind}s`);
  };
  const one = async (name: string) => {
    const v = await k.repo.one(name);
    if (v === undefined) throw notFound('name', `no ${k.kind} ${name}`);
    return v;
  };
  const write = async (op: () => Promise<unknown>, name: string) => {
    try {
      await op();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('name', `${k.kind} ${name} exists`);
      if (isForeignKeyViolation(e)) throw conflict('name', `${k.kind} ${name} is in use`);
      throw e;
    }
  };
  return {
    async list(p, page) {
      canRead(p);
      return k.repo.list(page);
    },
    async get(p, name) {
      canRead(p);
      return one(name);
    },
    async create(p, b) {
      requireAdmin(p, 'catalogue.write');
      const row = await k.toRow(b);
      await write(() => k.repo.insert(row), b.name);
      return one(b.name);
    },
    async replace(p, name, b) {
      // Only a body that names one of the fields (a drain's maintenance) takes the narrow path.
      const narrow =
        k.serviceReplace !== undefined &&
        serviceHolds(p, k.serviceReplace.right) &&
        k.serviceReplace.fields.some((f) => f in (b as object));
      if (!narrow) requireAdmin(p, 'catalogue.write');
      const existing = await k.repo.row(name);
      if (!existing) throw notFound('name', `no ${k.kind} ${name}`);
      const row = await k.toRow(b);
      if (narrow) {
        const allowed: readonly PropertyKey[] = k.serviceReplace?.fields ?? [];
        const now = existing as Record<string, unknown>;
        const changed = Object.entries(row as Record<string, unknown>).find(
          ([f, v]) => !allowed.includes(f) && String(v) !== String(now[f]),
        )?.[0];
        if (changed)
          throw notAllowed(`the ${p.service ?? 'unnamed'} service may not change ${changed}`, changed);
      }
      await k.check?.(existing, row);
      await write(() => k.repo.update(existing.id, row), b.name);
      return one(b.name);
    },
    async remove(p, name) {
      requireAdmin(p, 'catalogue.write');
      let deleted = 0n;
      await write(async () => (deleted = await k.repo.remove(name)), name);
      if (!deleted) throw notFound('name', `no ${k.kind} ${name}`);
      return { name, deleted: true };
    },
  };
}

/** Only SSH transports with the platform's own parameters (src/lib/libvirt-uri.ts). */
function checkedUri(uri: string): string {
  const problem = libvirtUriProblem(uri);
  if (problem) throw inputError('libvirt_uri', `libvirt_uri: ${problem}`);
  return uri;
}

function areaRow(b: AreaBody): Insertable<InventoryDB['areas']> {
  const s = parseSubnet(b.subnet);
  if (!s)
    throw inputError('subnet', 'subnet must be an IPv4 network a.b.c.d/p with prefix 16-30 and no host bits');
  const gw = parseIp(b.gateway ?? formatIp(s.first));
  if (gw === undefined || !inSubnet(gw, s))
    throw inputError('gateway', `gateway must be an address of ${b.subnet}`);
  const next = parseIp(b.next_ip ?? formatIp(gw === s.first ? s.first + 1 : s.first));
  if (next === undefined || !inSubnet(next, s))
    throw inputError('next_ip', `next_ip must be an address of ${b.subnet}`);
  return { name: b.name, subnet: b.subnet, gateway: formatIp(gw), next_ip: formatIp(next) };
}

export function catalogueServices(store: Store) {
  const areaId = async (r: Pick<Repositories, 'areas'>, name: string) => {
    const a = await r.areas.idOf(name);
    if (!a) throw inputError('area', `no area ${name}`);
    return a.id;
  };
  const hosts = catalogueKind<HostBody, Host, Insertable<InventoryDB['hosts']>>({
    kind: 'host',
    readers: 'operators',
    repo: store.hosts,
    toRow: async (b) => ({
      name: b.name,
      address: b.address,
      libvirt_uri: checkedUri(b.libvirt_uri),
      area_id: await areaId(store, b.area),
      cpus: b.cpus,
      memory: b.memory,
      domain_type: b.domain_type ?? 'qemu',
      // Left out, an update keeps the host's maintenance as it is (the controller's drain sets it).
      ...(b.maintenance !== undefined ? { maintenance: b.maintenance } : {}),
    }),
    serviceReplace: { right: 'hosts.maintenance', fields: ['maintenance'] },
  });
  return {
    templates: catalogueKind<TemplateBody, Template, Insertable<InventoryDB['templates']>>({
      kind: 'template',
      readers: 'all',
      repo: store.templates,
      toRow: async (b) => ({
        name: b.name,
        description: b.description ?? '',
        os: b.os ?? '',
        cpu: b.cpu,
        ram: b.ram,
        disk: b.disk,
        image: b.image ?? `${b.name}.qcow2`,
        kernel: b.kernel ?? null,
        initrd: b.initrd ?? null,
        cmdline: b.cmdline ?? null,
      }),
    }),
    areas: catalogueKind<AreaBody, Area, Insertable<InventoryDB['areas']>>({
      kind: 'area',
      readers: 'all',
      repo: store.areas,
      toRow: async (b) => areaRow(b),
      async check(existing, row) {
        if (row.subnet !== existing.subnet && (await store.leases.some(existing.id)))
          throw conflict('subnet', 'the subnet of an area with leased addresses cannot change');
        // The gateway may not become an address a VM (or a pending get_ip) already holds.
        if (row.gateway !== existing.gateway && (await store.leases.at(existing.id, parseIp(row.gateway)!)))
          throw conflict('gateway', `${row.gateway} is leased; it cannot become the gateway`);
      },
    }),
    hosts: {
      ...hosts,
      /** The VMs placed on a host, of every workspace (the operators' hosts page): those who read hosts. */
      async vms(p: Principal, name: string): Promise<PlacedVm[]> {
        await hosts.get(p, name);
        return store.vms.onHost(name);
      },
    },
    pools: catalogueKind<PoolBody, Pool, Insertable<InventoryDB['pools']>>({
      kind: 'pool',
      readers: 'operators',
      repo: store.pools,
      toRow: async (b) => ({
        name: b.name,
        path: b.path,
        area_id: await areaId(store, b.area),
        size: b.size,
      }),
    }),
  };
}
export type CatalogueServices = ReturnType<typeof catalogueServices>;
