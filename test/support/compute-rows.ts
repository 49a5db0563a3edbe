// Rows of compute's own database for unit tests: a host of area 'a' and a running VM on it, with every column
// a test does not name set to a plain value.
import type { Insertable, Kysely } from 'kysely';
import type { ComputeDB } from '../../src/compute/schema.ts';

type HostRow = Insertable<ComputeDB['hosts']>;
type VmInsert = Insertable<ComputeDB['vms']>;

/** A host of area 'a' (4 CPUs, `memory` GiB), up unless told otherwise. */
export async function insertHost(
  db: Kysely<ComputeDB>,
  name: string,
  o: Partial<HostRow> = {},
): Promise<void> {
  await db
    .insertInto('hosts')
    .values({
      name,
      address: '10.0.0.1',
      libvirt_uri: `qemu+ssh://${name}/system`,
      area: 'a',
      cpus: 4,
      memory: 4,
      domain_type: 'qemu',
      ...o,
    })
    .execute();
}

let made = 0;
/** A running VM of workspace 'w' (256 MiB, 1 vCPU, no NICs); task and domain unique unless named. */
export async function insertVm(
  db: Kysely<ComputeDB>,
  name: string,
  host: string,
  o: Partial<VmInsert> = {},
): Promise<void> {
  const n = ++made;
  await db
    .insertInto('vms')
    .values({
      workspace: 'w',
      name,
      task_id: `t-${n}`,
      domain: `kloudak-t-${n}`,
      host,
      pool: 'p',
      dir: `/pool/vms/${n}`,
      ip: '10.1.0.5',
      memory_mib: 256,
      vcpus: 1,
      disk_gib: 1,
      nics: JSON.stringify([]),
      state: 'running',
      ...o,
    })
    .execute();
}
