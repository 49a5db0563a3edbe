// Compute's console bridge (HTTP and websockets on COMPUTE_PORT): the controller, and only it (a service
// token), reaches a VM's serial console here. The websocket at /console/<ws>/<vm>/ is attached to the
// domain's console through the hub; GET /console/<ws>/<vm>/log/ answers the end of its log file on the pool.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { tokenOf, type TokenVerifier } from '../../lib/auth.ts';
import { ErrorBody } from '../../lib/contracts/common.ts';
import {
  CONSOLE_CLOSE,
  CONSOLE_PROTOCOL,
  ConsoleLog,
  ConsoleLogQuery,
  ConsoleParams,
  DEFAULT_LOG_BYTES,
  MAX_LOG_BYTES,
} from '../../lib/contracts/console.ts';
import { conflict, notAllowed, notFound, unauthenticated } from '../../lib/errors.ts';
import { createApp, type App } from '../../lib/http.ts';
import type { HostShell } from '../../lib/ssh.ts';
import { pathParams, refuseUpgrade, refuseUpgradeWith } from '../../lib/upgrade.ts';
import type { ComputeContext } from '../context.ts';
import { hostOf, vmByName } from '../vms.ts';
import type { ConsoleHub } from './hub.ts';

/** Output queued for one client beyond which it counts as gone (a reader that stopped reading). */
const MAX_BUFFERED = 1 << 20;

export const toBuffer = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

/** Compute's console answers services only (the controller relays a member's console after its checks). */
async function requireServiceToken(v: TokenVerifier, headers: IncomingHttpHeaders): Promise<void> {
  const token = tokenOf(headers);
  if (!token) throw unauthenticated('missing token');
  if (!(await v.verify(token)).isService) throw notAllowed('only service tokens may do this');
}

export async function createConsoleApp(d: {
  ctx: Pick<ComputeContext, 'db' | 'catalogue' | 'log'>;
  verifier: TokenVerifier;
  hub: ConsoleHub;
  shell: HostShell;
  health?: () => Promise<void>;
}): Promise<App> {
  const log = d.ctx.log;
  const app = await createApp({
    service: 'compute',
    log,
    description: "Compute's console bridge: VMs' serial consoles for the controller (service tokens only).",
    health: d.health,
  });

  /** The VM and its host; 404 when compute has no such VM. */
  async function target(ws: string, name: string) {
    const vm = await vmByName(d.ctx, ws, name);
    if (!vm) throw notFound('vm', `vm ${ws}/${name} is not on any host`);
    return { vm, host: await hostOf(d.ctx, vm.host) };
  }

  app.get(
    '/console/:ws/:vm/log/',
    {
      schema: {
        params: ConsoleParams,
        querystring: ConsoleLogQuery,
        response: { 200: ConsoleLog, '4xx': ErrorBody, '5xx': ErrorBody },
        tags: ['console'],
      },
    },
    async (req, reply) => {
      await requireServiceToken(d.verifier, req.headers);
      const { vm, host } = await target(req.params.ws, req.params.vm);
      const bytes = Math.min(Number(req.query.bytes ?? DEFAULT_LOG_BYTES), MAX_LOG_BYTES);
      // A VM that never started has no log yet: that is an empty one.
      const text = await d.shell.run(host.address, [
        'sh',
        '-c',
        'tail -c "$1" "$2" 2>/dev/null || true',
        'kloudak-console-log',
        String(bytes),
        posix.join(vm.dir, 'console.log'),
      ]);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024,
    handleProtocols: (offered) => (offered.has(CONSOLE_PROTOCOL) ? CONSOLE_PROTOCOL : false),
  });

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const params = pathParams(req.url ?? '/', 'console');
    if (!params) return refuseUpgrade(socket, 404, { error: 'no websocket here: /console/<ws>/<vm>/' });
    await requireServiceToken(d.verifier, req.headers);
    const { vm, host } = await target(...params);
    if (vm.state !== 'running')
      throw conflict('vm', `vm ${params.join('/')} is ${vm.state}: its console opens while it runs`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const a = d.hub.attach(
        { address: host.address, domain: vm.domain },
        {
          send(data) {
            if (ws.readyState !== WebSocket.OPEN) return;
            if (ws.bufferedAmount > MAX_BUFFERED) return ws.terminate();
            ws.send(data, { binary: true });
          },
          end: (why) => ws.close(CONSOLE_CLOSE.ended, `console ended: ${why}`.slice(0, 120)),
        },
      );
      ws.on('message', (data) => a.input(toBuffer(data)));
      ws.on('error', () => undefined);
      ws.on('close', () => a.detach());
    });
  }

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    onUpgrade(req, socket, head).catch((e: unknown) => refuseUpgradeWith(socket, e));
  });
  app.addHook('preClose', async () => {
    for (const c of wss.clients) c.close(CONSOLE_CLOSE.goingAway, 'compute shutting down');
    d.hub.close();
  });
  return app;
}
