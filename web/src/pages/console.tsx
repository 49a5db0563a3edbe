// A VM's serial console in the browser: xterm.js on the controller's console websocket (through the
// dashboard's /api/console/ forwarder), and the recent output as text. The token travels as a websocket
// subprotocol (a browser cannot set headers on one); the controller checks it and vm_can_edit before the
// connection opens, and relays to compute, which holds the host side.
import { useEffect, useRef, useState } from 'react';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { CONSOLE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../../../src/lib/console-protocol.ts';
import { enc, getText, getToken, inv, type Vm } from '../api.ts';
import { usePerms } from '../auth.tsx';
import { useResource } from '../hooks.ts';
import { Link, wsPath } from '../router.tsx';
import { Button, Card, ErrorBanner, Icon, Loading, PageHeader, StatePill } from '../ui.tsx';

type Status = 'connecting' | 'open' | 'closed';

function LiveConsole({ ws, name }: { ws: string; name: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>('connecting');
  const [why, setWhy] = useState('');
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (!box.current) return;
    const term = new Terminal({
      cursorBlink: true,
      fontSize: 14,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      scrollback: 5000,
      theme: { background: '#0f172a', foreground: '#e2e8f0' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current);
    fit.fit();
    setStatus('connecting');
    setWhy('');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${scheme}//${location.host}/api/console/${enc(ws)}/${enc(name)}/`, [
      CONSOLE_PROTOCOL,
      `${TOKEN_PROTOCOL_PREFIX}${getToken() ?? ''}`,
    ]);
    sock.binaryType = 'arraybuffer';
    let opened = false;
    sock.onopen = () => {
      opened = true;
      setStatus('open');
      term.focus();
    };
    sock.onmessage = (e: MessageEvent<ArrayBuffer | string>) =>
      term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
    sock.onclose = (e) => {
      setStatus('closed');
      setWhy(
        e.reason ||
          (opened
            ? 'the connection was closed'
            : 'the console could not be opened (the VM is not running, or you may not use it)'),
      );
    };
    const encoder = new TextEncoder();
    const typed = term.onData((d) => {
      if (sock.readyState === WebSocket.OPEN) sock.send(encoder.encode(d));
    });
    const onResize = () => fit.fit();
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      typed.dispose();
      sock.close();
      term.dispose();
    };
  }, [ws, name, attempt]);

  return (
    <Card>
      <div className="console-bar" data-testid="console-status" data-status={status}>
        <span
          className={`pill pill-${status === 'open' ? 'ok' : status === 'connecting' ? 'info' : 'muted'}`}
        >
          <span className="dot" aria-hidden="true" />
          {status === 'open' ? 'Connected' : status === 'connecting' ? 'Connecting…' : 'Disconnected'}
        </span>
        <span className="muted small">
          {status === 'closed'
            ? why
            : 'Press Enter for a prompt. Everyone on this console sees what is typed.'}
        </span>
        {status === 'closed' ? (
          <Button icon="refresh" onClick={() => setAttempt((n) => n + 1)}>
            Reconnect
          </Button>
        ) : null}
      </div>
      <div className="console-term" ref={box} data-testid="console-term" />
    </Card>
  );
}

function ConsoleLog({ ws, name }: { ws: string; name: string }) {
  const log = useResource(
    () => getText(`/console/${enc(ws)}/${enc(name)}/log/`),
    `console-log:${ws}:${name}`,
  );
  return (
    <Card
      title="Recent output"
      actions={<Button variant="ghost" icon="refresh" aria-label="Refresh" onClick={log.reload} />}
    >
      <ErrorBanner error={log.error} onRetry={log.reload} />
      {log.data === undefined && log.loading ? <Loading what="Reading the console log" /> : null}
      {log.data !== undefined ? (
        <pre className="console-log" data-testid="console-log">
          {log.data || 'Nothing yet.'}
        </pre>
      ) : null}
    </Card>
  );
}

export function ConsolePage({ ws, name }: { ws: string; name: string }) {
  const perms = usePerms(ws);
  const vm = useResource(() => inv.get<Vm>(`/${enc(ws)}/vms/${enc(name)}/`), `vm:${ws}:${name}`);
  const [tab, setTab] = useState<'live' | 'log'>('live');
  const v = vm.data;
  const running = v?.state === 'U' || v?.state === 'C_N';
  return (
    <>
      <PageHeader
        crumbs={
          <>
            <Link to={wsPath(ws, 'vms')}>Virtual machines</Link> <Icon name="chevron" size={12} />{' '}
            <Link to={wsPath(ws, `vms/${enc(name)}`)}>{name}</Link> <Icon name="chevron" size={12} /> Console
          </>
        }
        title={
          <span className="title-with-pill">
            Console of {name} {v ? <StatePill state={v.state} /> : null}
          </span>
        }
      />
      <ErrorBanner error={vm.error} onRetry={vm.reload} />
      <div className="tabs" role="tablist">
        {(['live', 'log'] as const).map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            aria-selected={tab === t}
            className={`tab${tab === t ? ' active' : ''}`}
            onClick={() => setTab(t)}
          >
            {t === 'live' ? 'Live console' : 'Recent output'}
          </button>
        ))}
      </div>
      {!perms.vm_can_edit ? (
        <div className="banner banner-warn">
          You need vm_can_edit in this workspace to use a VM's console.
        </div>
      ) : tab === 'log' ? (
        <ConsoleLog ws={ws} name={name} />
      ) : !v ? (
        vm.loading ? (
          <Loading />
        ) : null
      ) : running ? (
        <LiveConsole ws={ws} name={name} />
      ) : (
        <div className="banner banner-info">
          The VM is {v.state === 'D' ? 'down' : `in state ${v.state}`}: its console opens while it runs. Its
          recent output is under “Recent output”.
        </div>
      )}
    </>
  );
}
