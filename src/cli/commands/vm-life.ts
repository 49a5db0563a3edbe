// `kloudak vm start|stop|reboot|off` (POST /vms/power/).
import type { Command } from 'commander';
import { POWER_ACTIONS, type PowerAction } from '../../lib/contracts/common.ts';
import type { Vm } from '../../lib/contracts/inventory.ts';
import { Client, seg, usage } from './client.ts';
import { submit, type WaitOptions } from './tasks.ts';

const wsOption = (c: Command) =>
  c.option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)');

const WHAT: Record<PowerAction, string> = {
  start: 'start a stopped VM',
  stop: 'stop a VM: the ACPI power button, then forced off after --timeout seconds',
  reboot: 'reboot a VM: a stop (as vm stop), then a start',
  off: 'force a VM off at once (as pulling the plug)',
};

const DONE: Record<PowerAction, string> = { start: 'up', stop: 'down', reboot: 'up', off: 'down' };

function positiveInt(v: string, field: string, max: number): number {
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) < 1 || Number(v) > max)
    throw usage(`--${field} must be a whole number from 1 to ${max}`, field);
  return Number(v);
}

async function vmLine(client: Client, ws: string, name: string) {
  const vm = await client.inventory<Vm>('GET', `/${seg(ws)}/vms/${seg(name)}/`);
  return { json: vm, text: `vm ${vm.name}: ${vm.state}  host ${vm.host ?? '-'}` };
}

export function vmLifeCommands(vm: Command): void {
  for (const action of POWER_ACTIONS) {
    const c = wsOption(vm.command(action))
      .description(WHAT[action])
      .argument('<name>', 'VM name')
      .option('--wait', 'follow the task to its end (progress on stderr); exit 1 if it fails')
      .option('--json', 'print JSON');
    if (action === 'stop' || action === 'reboot')
      c.option('--timeout <seconds>', 'how long the guest has to power off before it is forced (default 60)');
    c.action(async (name: string, o: Omit<WaitOptions, 'timeout'> & { timeout?: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      const body: Record<string, unknown> = { owner: ws, name, action };
      if (o.timeout !== undefined) body.timeout = positiveInt(o.timeout, 'timeout', 3600);
      await submit(
        client,
        ws,
        'POST',
        '/vms/power/',
        body,
        `vm ${name}`,
        { wait: o.wait, json: o.json },
        async () => {
          const v = await vmLine(client, ws, name);
          return { ...v, text: `${v.text}  (${action}: ${DONE[action]})` };
        },
      );
    });
  }
}
