// `kloudak vm console <name>`: the VM's serial console in this terminal (raw mode; Ctrl-] leaves), over the
// controller's console websocket; `--log` prints the recent output instead.
import type { Command } from 'commander';
import WebSocket from 'ws';
import { CONSOLE_ESCAPE, CONSOLE_PROTOCOL } from '../../lib/console-protocol.ts';
import { CliError, Client, EXIT, exitCodeOfStatus, seg, usage } from './client.ts';
import { note } from './output.ts';

/** The refusal of a console request: the controller's {error} with its status. */
function refused(status: number, body: string): CliError {
  let message = `status ${status}`;
  try {
    const b = JSON.parse(body) as { error?: unknown };
    if (typeof b.error === 'string') message = b.error;
  } catch {
    // not JSON: the status says it
  }
  return new CliError(message, exitCodeOfStatus(status));
}

/** GET the log as text, renewing the token once on a 401/403 (as every other call does). */
async function readLog(client: Client, ws: string, name: string, bytes?: string): Promise<string> {
  const url = `${client.controllerUrl}/console/${seg(ws)}/${seg(name)}/log/${bytes ? `?bytes=${bytes}` : ''}`;
  const once = () =>
    fetch(url, { headers: { authorization: `Bearer ${client.token}` }, signal: AbortSignal.timeout(30_000) });
  let res = await once().catch((e: Error) => {
    throw new CliError(`cannot reach the controller: ${e.message}`, EXIT.unavailable);
  });
  if ((res.status === 401 || res.status === 403) && (await client.renewToken())) res = await once();
  const text = await res.text();
  if (!res.ok) throw refused(res.status, text);
  return text;
}

/** Opens the console websocket; rejects with the controller's refusal (status and words). */
function connect(client: Client, ws: string, name: string): Promise<WebSocket> {
  const url = `${client.controllerUrl.replace(/^http/, 'ws')}/console/${seg(ws)}/${seg(name)}/`;
  return new Promise((resolve, reject) => {
    const sock = new WebSocket(url, [CONSOLE_PROTOCOL], {
      headers: { authorization: `Bearer ${client.token}` },
      handshakeTimeout: 30_000,
    });
    // Output may come with the handshake's answer: write it from the start.
    sock.on('message', (d: Buffer) => process.stdout.write(d));
    sock.once('open', () => resolve(sock));
    sock.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString('utf8')));
      res.on('end', () => reject(refused(res.statusCode ?? 502, body)));
    });
    sock.once('error', (e) =>
      reject(new CliError(`cannot reach the controller: ${e.message}`, EXIT.unavailable)),
    );
  });
}

export function vmConsoleCommand(vm: Command): void {
  vm.command('console')
    .description("the VM's serial console in this terminal (Ctrl-] leaves); --log prints its recent output")
    .argument('<name>', 'VM name')
    .option('-w, --workspace <ws>', 'workspace (default: kloudak workspaces use)')
    .option('--log', 'print the recent console output and exit')
    .option('--bytes <n>', 'with --log: at most this many bytes of the end (default 65536)')
    .action(async (name: string, o: { workspace?: string; log?: boolean; bytes?: string }, cmd: Command) => {
      const client = Client.of(cmd);
      const ws = client.workspace(o.workspace);
      if (o.bytes !== undefined && !/^[0-9]{1,7}$/.test(o.bytes))
        throw usage('--bytes must be a whole number', 'bytes');
      if (o.log) {
        process.stdout.write(await readLog(client, ws, name, o.bytes));
        return;
      }
      let sock: WebSocket;
      try {
        sock = await connect(client, ws, name);
      } catch (e) {
        // A token minted before a permission change: renew once and try again.
        if (!(e instanceof CliError) || e.code !== EXIT.auth || !(await client.renewToken())) throw e;
        sock = await connect(client, ws, name);
      }
      await attach(sock, name);
    });
}

/** Raw terminal both ways until Ctrl-] or the console ends. */
async function attach(sock: WebSocket, name: string): Promise<void> {
  const stdin = process.stdin;
  const tty = stdin.isTTY;
  note(`connected to the console of ${name} (Ctrl-] to leave; press Enter for a prompt)`);
  if (tty) stdin.setRawMode(true);
  stdin.resume();
  let left = false;
  const onInput = (b: Buffer) => {
    const at = b.indexOf(CONSOLE_ESCAPE);
    const out = at >= 0 ? b.subarray(0, at) : b;
    if (out.length && sock.readyState === WebSocket.OPEN) sock.send(out);
    if (at >= 0) {
      left = true;
      sock.close();
    }
  };
  stdin.on('data', onInput);
  // Without a terminal (a script piping input): its end ends the session.
  if (!tty) stdin.once('end', () => setTimeout(() => sock.close(), 500));
  const reason = await new Promise<string>((resolve) => sock.once('close', (_c, r) => resolve(String(r))));
  stdin.off('data', onInput);
  if (tty) stdin.setRawMode(false);
  stdin.pause();
  process.stdout.write('\r\n');
  note(left ? `left the console of ${name}` : `the console of ${name} closed${reason ? `: ${reason}` : ''}`);
}
