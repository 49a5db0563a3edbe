// `kloudak vm power <name> <action>` and its short forms `kloudak vm start|stop|reboot|off` (POST /vms/power/),
// and `kloudak vm resize` (PUT /vms/ with cpu, ram).
import type { Command } from 'commander';
import { POWER_ACTIONS, type PowerAction } from '../../lib/contracts/common.ts';
import type { Vm } from '../../lib/contracts/inventory.ts';
import { Client, seg, usage } from './client.ts';
import { submit, type WaitOptions, wsOption } from './tasks.ts';

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
  return {
    json: vm,
    text: `vm ${vm.name}: ${vm.state}  ${vm.cpu} vCPU  ${mib(vm.ram)} MiB  host ${vm.host ?? '-'}`,
  };
}

const mib = (gib: number) => Math.round(gib * 1024);

/** A size in GiB from "512M", "1.5G", "2GiB" or a bare number of MiB. */
export function parseRam(v: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(m|mi|mib|mb|g|gi|gib|gb)?$/i.exec(v.trim());
  if (!m) throw usage('--ram must be a size such as 512M or 2G (a bare number is MiB)', 'ram');
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase();
  const gib = unit.startsWith('g') ? n : n / 1024;
  if (!(gib > 0)) throw usage('--ram must be more than 0', 'ram');
  return gib;
}

type PowerOptions = Omit<WaitOptions, 'timeout'> & { timeout?: string };

async function power(name: string, action: PowerAction, o: PowerOptions, cmd: Command): Promise<void> {
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
}

const powerOptions = (c: Command) =>
  c
    .option('--wait', 'follow the task to its end (progress on stderr); exit 1 if it fails')
    .option('--json', 'print JSON');
const TIMEOUT_HELP = 'how long the guest has to power off before it is forced (stop, reboot; default 60)';

export function vmLifeCommands(vm: Command): void {
  powerOptions(
    wsOption(vm.command('power'))
      .description(`power a VM: ${POWER_ACTIONS.map((a) => `${a} (${WHAT[a]})`).join('; ')}`)
      .argument('<name>', 'VM name')
      .argument('<action>', POWER_ACTIONS.join('|')),
  )
    .option('--timeout <seconds>', TIMEOUT_HELP)
    .action(async (name: string, action: string, o: PowerOptions, cmd: Command) => {
      const a = POWER_ACTIONS.find((x) => x === action);
      if (!a) throw usage(`the action must be one of ${POWER_ACTIONS.join(', ')}`, 'action');
      if (o.timeout !== undefined && a !== 'stop' && a !== 'reboot')
        throw usage('--timeout is for stop and reboot', 'timeout');
      await power(name, a, o, cmd);
    });
  for (const action of POWER_ACTIONS) {
    const c = powerOptions(
      wsOption(vm.command(action)).description(WHAT[action]).argument('<name>', 'VM name'),
    );
    if (action === 'stop' || action === 'reboot') c.option('--timeout <seconds>', TIMEOUT_HELP);
    c.action((name: string, o: PowerOptions, cmd: Command) => power(name, action, o, cmd));
  }

  wsOption(vm.command('resize'))
    .description('change the vCPUs and memory of a VM (a running one is stopped, redefined and started)')
    .argument('<name>', 'VM name')
    .option('--cpu <n>', 'vCPUs')
    .option('--ram <size>', 'memory: 512M, 2G (a bare number is MiB)')
    .option('--wait', 'follow the task to its end (progress on stderr); exit 1 if it fails')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        o: Omit<WaitOptions, 'timeout'> & { cpu?: string; ram?: string },
        cmd: Command,
      ) => {
        if (o.cpu === undefined && o.ram === undefined)
          throw usage('give --cpu, --ram or both', 'update_dict');
        const client = Client.of(cmd);
        const ws = client.workspace(o.workspace);
        const update: Record<string, number> = {};
        if (o.cpu !== undefined) update.cpu = positiveInt(o.cpu, 'cpu', 256);
        if (o.ram !== undefined) update.ram = parseRam(o.ram);
        await submit(
          client,
          ws,
          'PUT',
          '/vms/',
          { owner: ws, name, update_dict: update },
          `vm ${name}`,
          { wait: o.wait, json: o.json },
          () => vmLine(client, ws, name),
        );
      },
    );
}
