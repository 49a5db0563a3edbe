// `kloudak tasks list|show`, and how every command that goes through the controller submits its request and,
// with --wait, follows the task to its end.
import type { Command } from 'commander';
import type { Accepted, Task, VmAccepted } from '../../lib/contracts/controller.ts';
import { followTask, FollowTimeout, type TaskView } from '../progress.ts';
import { CliError, Client, EXIT, seg, usage } from './client.ts';
import { note, printJson, printList, printObject } from './output.ts';

export interface WaitOptions {
  wait?: boolean;
  timeout?: string;
  json?: boolean;
  workspace?: string;
}

/** Adds -w/--workspace to a command on a workspace's objects. */
export const wsOption = (c: Command) =>
  c.option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)');

/** Adds --wait and --timeout to a command that submits a task. */
export function waitable(c: Command): Command {
  return c
    .option('--wait', 'follow the task to its end (progress on stderr); exit 1 if it fails')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 5)')
    .option('--json', 'print JSON');
}

function seconds(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw usage('--timeout must be a positive number of seconds', 'timeout');
  return n;
}

export async function follow(
  client: Client,
  workspace: string,
  id: string,
  label: string,
  timeout?: number,
): Promise<TaskView> {
  const source = {
    getTask: (task: string, wait: number, signal?: AbortSignal) =>
      client.controller<Task>('GET', `/task/${seg(task)}/?wait=${wait}`, { timeout: wait + 20, signal }),
    roomUrl: `${client.notificationUrl}/${seg(workspace)}/${seg(client.token)}`,
  };
  try {
    return await followTask(source, id, { label, timeout });
  } catch (e) {
    if (e instanceof FollowTimeout) throw new CliError(e.message, EXIT.unavailable);
    throw e;
  }
}

/**
 * Sends one controller request (202 + task). Without --wait prints the acceptance; with --wait follows the
 * task and prints `done()`'s answer (e.g. the final VM), or fails with exit 1 and the task's error.
 */
export async function submit(
  client: Client,
  workspace: string,
  method: string,
  path: string,
  body: Record<string, unknown>,
  label: string,
  o: WaitOptions,
  done?: (t: TaskView) => Promise<{ json: unknown; text: string }>,
): Promise<void> {
  const timeout = seconds(o.timeout);
  const accepted = await client.controller<Accepted & Partial<VmAccepted>>(method, path, { body });
  if (!o.wait) {
    if (o.json) return printJson(accepted);
    process.stdout.write(
      `${label}: accepted, task ${accepted.task_id}${accepted.ip ? `, ip ${accepted.ip}` : ''}\n`,
    );
    return;
  }
  const t = await follow(client, workspace, accepted.task_id, label, timeout);
  if (t.status !== 'successful') {
    if (o.json) printJson(t);
    throw new CliError(
      `${label}: task ${t.task_id} ${t.status.replace('_', ' ')}: ${t.error ?? 'no reason given'}`,
      EXIT.failed,
    );
  }
  // A task that did something else than asked (an anti-affinity group it could not honour) says so.
  if (t.warning) process.stderr.write(`${label}: warning: ${t.warning}\n`);
  const out = done ? await done(t) : { json: t, text: `${label}: ${t.stage}` };
  if (o.json) printJson(out.json);
  else process.stdout.write(`${out.text}\n`);
}

const COLUMNS: [string, (t: Task) => unknown][] = [
  ['ID', (t) => t.task_id],
  ['TYPE', (t) => t.type],
  ['METHOD', (t) => t.method],
  ['OBJECT', (t) => t.object],
  ['STATUS', (t) => t.status],
  ['STAGE', (t) => t.stage],
  ['UPDATED', (t) => t.updated_at],
  ['ERROR', (t) => t.error],
];

export function taskCommands(program: Command): void {
  const tasks = program
    .command('tasks')
    .description("a workspace's tasks (every create, edit and delete is one)");
  tasks
    .command('list')
    .description('tasks of the workspace, newest first')
    .option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)')
    .option('--running', 'only tasks not finished')
    .option('--finished', 'only finished tasks')
    .option('--limit <n>', 'at most this many (1-1000)', '100')
    .option('--json', 'print JSON')
    .action(
      async (
        o: { workspace?: string; running?: boolean; finished?: boolean; limit: string; json?: boolean },
        cmd: Command,
      ) => {
        if (o.running && o.finished) throw usage('give --running or --finished, not both');
        if (!/^[0-9]{1,4}$/.test(o.limit)) throw usage('--limit must be a number 1-1000', 'limit');
        const client = Client.of(cmd);
        const ws = client.workspace(o.workspace);
        const kind = o.running ? 'running_tasks' : o.finished ? 'finished_tasks' : 'tasks';
        const r = await client.controller<{ tasks: Task[] }>('GET', `/${kind}/${seg(ws)}/?limit=${o.limit}`);
        printList(o.json, r.tasks, COLUMNS);
      },
    );
  tasks
    .command('show')
    .description('one task; with --wait, follow it to its end')
    .argument('<id>', 'task id')
    .option('-w, --workspace <ws>', "workspace, for --wait (default: the task's)")
    .option('--wait', 'follow the task to its end; exit 1 if it fails')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 5)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: WaitOptions, cmd: Command) => {
      if (!/^[0-9a-f-]{36}$/.test(id)) throw usage(`${id} is not a task id`, 'id');
      const client = Client.of(cmd);
      let t: TaskView = await client.controller<Task>('GET', `/task/${id}/`);
      if (o.wait) {
        t = await follow(client, o.workspace ?? t.workspace, id, `${t.type} ${t.object}`, seconds(o.timeout));
        if (t.status !== 'successful') {
          if (o.json) printJson(t);
          else note(`${t.type} ${t.object}: task ${t.status}`);
          throw new CliError(
            `task ${id} ${t.status.replace('_', ' ')}: ${t.error ?? 'no reason given'}`,
            EXIT.failed,
          );
        }
      }
      printObject(o.json, t);
    });
}

/** `<parent> delete <name>`: the controller task that deletes a workspace's `kind` (`--wait` follows it). */
export function deleteCommand(parent: Command, kind: string, path: string, description: string) {
  waitable(wsOption(parent.command('delete')))
    .description(description)
    .argument('<name>', `${kind} name`)
    .action(async (name: string, o: WaitOptions, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      await submit(client, ws, 'DELETE', path, { owner: ws, name }, `${kind} ${name}`, o, async (t) => ({
        json: t,
        text: `${kind} ${name}: deleted`,
      }));
    });
}
