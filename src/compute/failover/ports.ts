// The network service's part of a failover: a VM's ports on a host (its private ports recorded, its public
// port's anti-spoofing rules installed) when it runs there, or their removal when a stale copy goes. Nobody
// waits for the result: the controller has no task for it.
import { randomUUID } from 'node:crypto';
import type { PortsTask } from '../tasks.ts';
import { portsOf, publicPortOf, type VmRow } from '../vms.ts';

export function portsTask(vm: VmRow, host: string, method: 'POST' | 'DELETE'): PortsTask {
  return {
    task_id: `failover-${method === 'DELETE' ? 'drop-' : ''}${vm.task_id}-${randomUUID()}`,
    type: 'vm',
    method,
    owner: vm.workspace,
    name: vm.name,
    retries: 0,
    attempt: 1,
    host,
    interfaces: portsOf(vm.nics),
    public: publicPortOf(vm),
    notify: false,
  };
}
