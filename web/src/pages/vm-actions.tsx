// A VM's power buttons (start, stop, reboot, force off: POST /vms/power/) on its page. A VM takes one task at a
// time: the buttons wait while one runs, and each is offered only in the state it needs (the controller says
// 409 otherwise).
import { useState } from 'react';
import { ctl, type Task, type Vm } from '../api.ts';
import { Button, Confirm, useToast } from '../ui.tsx';

type Action = 'start' | 'stop' | 'reboot' | 'off';

const LABEL: Record<Action, string> = { start: 'Start', stop: 'Stop', reboot: 'Reboot', off: 'Force off' };

export function PowerButtons({
  ws,
  vm,
  tasks,
  canEdit,
  onAccepted,
}: {
  ws: string;
  vm: Vm;
  tasks?: Task[];
  canEdit: boolean;
  onAccepted: () => void;
}) {
  const toast = useToast();
  const [confirm, setConfirm] = useState<Action | undefined>();
  const [sending, setSending] = useState<Action | undefined>();
  const running = tasks?.find((t) => !['successful', 'rolled_back', 'failed'].includes(t.status));
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
