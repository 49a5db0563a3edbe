// Domain XML of a Kloudak VM, every value escaped. Names, MACs and device names derive from the creating
// task id, so a redelivered create defines the same domain instead of a second one.
import { createHash } from 'node:crypto';

export const xml = (s: string | number) =>
  String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');

export interface Nic {
  mac: string;
  bridge: string;
  /** OVS port name (at most 15 characters). */
  dev: string;
  /** Kloudak network name, for private NICs. */
  network?: string;
  /** The network's VLAN: a private NIC's port is created with this tag, never tagged after the fact. */
  vlan?: number;
}

export interface DomainSpec {
  name: string;
  uuid: string;
  title: string;
  type: 'kvm' | 'qemu';
  memoryMib: number;
  vcpus: number;
  disk: string;
  seed: string;
  console: string;
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
  nics: Nic[];
}

export function domainName(taskId: string): string {
  return `kloudak-${taskId}`;
}

/** A locally administered unicast MAC in QEMU's range, stable for (seed, index). */
export function macFor(seed: string, index: number): string {
  const h = createHash('sha256').update(`${seed}/${index}`).digest();
  return ['52', '54', '00', h[0], h[1], h[2]]
    .map((b) => (typeof b === 'number' ? b.toString(16).padStart(2, '0') : b))
    .join(':');
}

/** The OVS port of NIC `index`: 'k' + 8 hex of the id + 'n' + index (OVS allows 15 characters). */
export function devFor(seed: string, index: number): string {
  return `k${createHash('sha256').update(seed).digest('hex').slice(0, 8)}n${index}`;
}

/** VLAN ids a port may carry (802.1Q: 0 and 4095 are reserved). */
export const isVlan = (v: unknown): v is number => Number.isInteger(v) && Number(v) >= 1 && Number(v) <= 4094;

/** An untagged OVS port carries every VLAN: a private NIC without its VLAN is refused, never plugged. */
export function requireVlans(nics: Nic[]): void {
  for (const n of nics)
    if (n.network !== undefined && !isVlan(n.vlan))
      throw new Error(`NIC ${n.dev} on network ${n.network} has no valid VLAN (${String(n.vlan)})`);
}

// The interface element. A NIC with a VLAN gets its tag in the XML, so its OVS port is created tagged.
// host csum='off': the guest sends every frame with its checksums complete. Open vSwitch's userspace
// datapath forwards a frame whose checksum the guest left to the NIC as it is, so it arrives corrupt and
// TCP never connects (ping has no such offload). Costs guest CPU per packet, and TSO goes with it.
export function nicXml(n: Nic): string {
  const vlan = isVlan(n.vlan) ? `\n      <vlan><tag id='${n.vlan}'/></vlan>` : '';
  return `    <interface type='bridge'>
      <mac address='${xml(n.mac)}'/>
      <source bridge='${xml(n.bridge)}'/>
      <virtualport type='openvswitch'/>${vlan}
      <target dev='${xml(n.dev)}'/>
      <model type='virtio'/>
      <driver><host csum='off'/></driver>
    </interface>`;
}

// The serial console is a pseudo-terminal on the host (what `virsh console` attaches to: compute's console
// bridge, src/compute/console/) whose output is also logged, appended, to console.log on the shared pool: the
// log outlives the domain's moves (a live migration's destination QEMU opens it while the source still writes)
// and is what GET /console/<ws>/<vm>/log/ and the tests read.
export function domainXml(d: DomainSpec): string {
  requireVlans(d.nics);
  const boot = d.kernel
    ? `    <kernel>${xml(d.kernel)}</kernel>\n${d.initrd ? `    <initrd>${xml(d.initrd)}</initrd>\n` : ''}    <cmdline>${xml(d.cmdline ?? 'console=ttyS0')}</cmdline>`
    : `    <boot dev='hd'/>`;
  // machine pc: the seed cdrom sits on IDE, which every guest kernel drives (ata_piix).
  return `<domain type='${xml(d.type)}'>
  <name>${xml(d.name)}</name>
  <uuid>${xml(d.uuid)}</uuid>
  <title>${xml(d.title)}</title>
  <memory unit='MiB'>${Math.round(d.memoryMib)}</memory>
  <vcpu>${Math.round(d.vcpus)}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
${boot}
  </os>
  <features><acpi/></features>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='${xml(d.disk)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${xml(d.seed)}'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
${d.nics.map(nicXml).join('\n')}
    <serial type='pty'>
      <log file='${xml(d.console)}' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
