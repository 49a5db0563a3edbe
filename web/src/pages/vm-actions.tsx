// A VM's power buttons (start, stop, reboot, force off: POST /vms/power/) and its resize form (PUT /vms/ with
// cpu, ram) on its page. A VM takes one task at a time: the buttons wait while one runs, and each is offered
// only in the state it needs (the controller says 409 otherwise).
import { useState } from 'react';
import { ctl, type Task, type Vm } from '../api.ts';
import { Button, Confirm, FormDrawer, TextField, useAction, useToast } from '../ui.tsx';

type Action = 'start' | 'stop' | 'reboot' | 'off';

const LABEL: Record<Action, string> = { start: 'Start', stop: 'Stop', reboot: 'Reboot', off: 'Force off' };

/** What a card of the VM page gets: the VM, its recent tasks, whether the user may act, and a refresh. */
export interface VmCardProps {
  ws: string;
  vm: Vm;
  tasks?: Task[];
  canEdit: boolean;
  onAccepted: () => void;
}

export function PowerButtons({ ws, vm, tasks, canEdit, onAccepted }: VmCardProps) {
  const toast = useToast();
  const [confirm, setConfirm] = useState<Action | undefined>();
  const [sending, setSending] = useState<Action | undefined>();
  const running = runningTask(tasks);
  const send = async (action: Action) => {
    setSending(action);
    try {
      await ctl.power({ owner: ws, name: vm.name, action });
      toast('info', `${LABEL[action]}: ${vm.name}…`);
      onAccepted();
    } catch (e) {
      toast('error', e instanceof Error ? e.message : String(e));
    } finally {
      setSending(undefined);
    }
  };
  const offered: Action[] = vm.state === 'D' ? ['start'] : vm.state === 'U' ? ['stop', 'reboot', 'off'] : [];
  const denied = !canEdit && 'vm_can_edit';
  return (
    <>
      {offered.map((a) => (
        <Button
          key={a}
          icon={a === 'start' ? 'play' : a === 'stop' ? 'stop' : a === 'reboot' ? 'refresh' : 'power'}
          variant={a === 'off' ? 'danger' : 'secondary'}
          deniedBy={denied}
          disabled={Boolean(running)}
          busy={sending === a}
          title={running ? `a ${running.method} task is running` : undefined}
          data-testid={`vm-power-${a}`}
          onClick={() => (a === 'off' ? setConfirm(a) : void send(a))}
        >
          {LABEL[a]}
        </Button>
      ))}
      {confirm ? (
        <Confirm
          title={`Force ${vm.name} off?`}
          body={<p>As pulling the plug: the guest gets no chance to shut down, and unsaved data is lost.</p>}
          confirmLabel="Force off"
          onClose={() => setConfirm(undefined)}
          onConfirm={async () => {
            await ctl.power({ owner: ws, name: vm.name, action: confirm });
            toast('info', `${LABEL[confirm]}: ${vm.name}…`);
            onAccepted();
          }}
        />
      ) : null}
    </>
  );
}

/** Whether a task of the VM is still running (the VM takes one at a time). */
export const runningTask = (tasks?: Task[]) =>
  tasks?.find((t) => !['successful', 'rolled_back', 'failed'].includes(t.status));

export function ResizeVm({
  ws,
  vm,
  onClose,
  onAccepted,
}: {
  ws: string;
  vm: Vm;
  onClose: () => void;
  onAccepted: () => void;
}) {
  const toast = useToast();
  const [cpu, setCpu] = useState(String(vm.cpu));
  const [mib, setMib] = useState(String(Math.round(vm.ram * 1024)));
  const act = useAction(async () => {
    const update: Record<string, number> = {};
    if (Number(cpu) !== vm.cpu) update.cpu = Number(cpu);
    if (Number(mib) !== Math.round(vm.ram * 1024)) update.ram = Number(mib) / 1024;
    await ctl.send('PUT', 'vms', { owner: ws, name: vm.name, update_dict: update });
    toast('info', `Resizing ${vm.name}…`);
    onAccepted();
    onClose();
  });
  return (
    <FormDrawer
      title={`Resize ${vm.name}`}
      onClose={onClose}
      action={act}
      submitLabel="Resize"
      submitTestId="resize-submit"
      fields={['cpu', 'ram']}
    >
      <p className="muted">
        {vm.state === 'U'
          ? 'The VM is stopped (the guest gets the power button, then is forced off after 60 s), given its new size and started again.'
          : 'The VM is down: its new size applies when it starts.'}
      </p>
      <TextField
        label="vCPUs"
        name="cpu"
        type="number"
        min={1}
        value={cpu}
        onChange={(e) => setCpu(e.target.value)}
        error={act.error}
      />
      <TextField
        label="Memory (MiB)"
        name="ram"
        type="number"
        min={1}
        value={mib}
        onChange={(e) => setMib(e.target.value)}
        error={act.error}
        hint={`Now ${Math.round(vm.ram * 1024)} MiB.`}
      />
    </FormDrawer>
  );
}
