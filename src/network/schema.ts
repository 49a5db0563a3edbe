// Network tables: each network's VLAN (unique in the deployment), VM ports and their tags, routers and their
// interfaces, and the tasks already handled.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';
import type { HandledResult } from './worker.ts';

export interface NetworkDB {
  networks: {
    id: Generated<number>;
    workspace: string;
    name: string;
    vlan: number;
    subnet: string | null;
    task_id: string;
  };
  ports: {
    host: string;
    dev: string;
    mac: string;
    workspace: string;
    vm: string;
    network: string;
    vlan: number;
    task_id: string;
  };
  /** A VM's public NIC: its port on the host's public bridge forwards only this MAC with this IPv4. */
  public_ports: {
    host: string;
    dev: string;
    mac: string;
    ip: string;
    workspace: string;
    vm: string;
    task_id: string;
  };
  routers: {
    id: Generated<number>;
    workspace: string;
    name: string;
    host: string;
    namespace: string;
    task_id: string;
  };
  router_ports: { router_id: number; network: string; dev: string; vlan: number; ip: string };
  handled: {
    task_id: string;
    attempt: number;
    kind: string;
    result: JSONColumnType<HandledResult>;
    at: ColumnType<Date, never, never>;
  };
}
