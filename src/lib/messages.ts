// Bus message shapes shared by the controller and the workers (DESIGN "Bus contract").
import { MalformedMessage } from './bus/bus.ts';

export type ObjectType = 'vm' | 'network' | 'router' | 'interface';
export type Method = 'POST' | 'PUT' | 'DELETE';

/** A task on the `vm` or `network` queue (and, with rollback: true, on the rollback queues). */
export interface TaskMessage {
  task_id: string;
  type: ObjectType;
  method: Method;
  owner: string;
  name: string;
  /** Retries left after this attempt (the book's field). */
  retries: number;
  /** 1 for the first delivery, +1 per resubmission: results name it so stale results are ignored. */
  attempt: number;
  request_id?: string;
  [k: string]: unknown;
}

/** A result on `vm_notification` or `network_notification`. */
export interface ResultMessage {
  task_id: string;
  status: 'successful' | 'failed';
  retries?: number;
  attempt?: number;
  error?: string;
  /** Set by rollback workers. */
  rollback?: boolean;
  /** Compute says the network service still has to configure the VM's ports for this task. */
  network_pending?: boolean;
  /** Which worker answered: 'compute' or 'network'. */
  from?: 'compute' | 'network';
  [k: string]: unknown;
}

/** The network task compute sends after starting a VM (and before deleting one). */
export interface VmInterfacesTask extends TaskMessage {
  type: 'vm';
  host: string;
  interfaces: { dev: string; mac: string; network: string }[];
}

const METHODS = new Set(['POST', 'PUT', 'DELETE']);
const TYPES = new Set(['vm', 'network', 'router', 'interface']);

/** Checks the envelope of a task; a broken one can never succeed, so it is dead-lettered. */
export function parseTask(body: Record<string, unknown>): TaskMessage {
  if (typeof body.task_id !== 'string' || !body.task_id) throw new MalformedMessage('task without task_id');
  if (!TYPES.has(body.type as string)) throw new MalformedMessage(`task ${body.task_id}: bad type`);
  if (!METHODS.has(body.method as string)) throw new MalformedMessage(`task ${body.task_id}: bad method`);
  if (typeof body.owner !== 'string' || typeof body.name !== 'string')
    throw new MalformedMessage(`task ${body.task_id}: no owner or name`);
  return { retries: 0, attempt: 1, ...body } as TaskMessage;
}

export function parseResult(body: Record<string, unknown>): ResultMessage {
  if (typeof body.task_id !== 'string' || !body.task_id) throw new MalformedMessage('result without task_id');
  if (body.status !== 'successful' && body.status !== 'failed')
    throw new MalformedMessage(`result ${body.task_id}: bad status`);
  return body as ResultMessage;
}
