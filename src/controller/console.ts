// A VM's serial console through the controller (DESIGN "VM life after create"). The websocket at
// /console/<ws>/<vm>/ is checked before the upgrade completes (token, vm_can_edit in the workspace, the VM
// running), then relayed to compute's console bridge (COMPUTE_URL, the same path, with the controller's
// service token), which holds the host side: the controller has no SSH to hosts, and no port is opened on
// them. The token comes in the `token` header, `Authorization: Bearer`, or (browsers cannot set headers on a
// websocket) the subprotocol `kloudak-token.<token>`; never in the URL.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeJwt } from 'jose';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { requirePermission, tokenOf, type Principal } from '../lib/auth.ts';
import { ErrorBody } from '../lib/contracts/common.ts';
import {
  CONSOLE_CLOSE,
  CONSOLE_PROTOCOL,
  ConsoleLog,
  ConsoleLogQuery,
  ConsoleParams,
  TOKEN_PROTOCOL_PREFIX,
} from '../lib/contracts/console.ts';
import { conflict, kindOfStatus, AppError, unauthenticated, unavailable } from '../lib/errors.ts';
import type { App } from '../lib/http.ts';
import { pathParams, refuseUpgrade, refuseUpgradeWith } from '../lib/upgrade.ts';
import type { ControllerContext } from './context.ts';
import { found } from './usecases/accept.ts';
import { STATE_WORDS } from './usecases/power.ts';

/** The token of a console request: the headers, else a `kloudak-token.` subprotocol. */
export function consoleToken(headers: IncomingHttpHeaders): string | undefined {
  const t = tokenOf(headers);
  if (t) return t;
  const offered = String(headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  const p = offered.find((x) => x.startsWith(TOKEN_PROTOCOL_PREFIX));
  return p ? p.slice(TOKEN_PROTOCOL_PREFIX.length) || undefined : undefined;
}

const toBuffer = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

export function consoleRoutes(app: App, ctx: ControllerContext): void {
  const computeUrl = ctx.config.COMPUTE_URL.replace(/\/+$/, '');
  const seg = encodeURIComponent;

  /** Who may use this VM's console: a member with vm_can_edit (403 before anything is opened). */
  async function check(headers: IncomingHttpHeaders, ws: string, name: string, requestId: string) {
    const token = consoleToken(headers);
    if (!token) throw unauthenticated('missing token');
    // The caller's current standing (src/lib/authority.ts), not the token's word.
    const p: Principal = await ctx.auth.verify(token);
    requirePermission(p, ws, 'vm_can_edit');
    const vm = await found(ctx.inventory.vms.get(ws, name, { requestId }), 'vm', `vm ${name}`);
    return { vm, token };
  }

  app.get(
    '/console/:ws/:vm/log/',
    {
      schema: {
        params: ConsoleParams,
        querystring: ConsoleLogQuery,
        response: { 200: ConsoleLog, '4xx': ErrorBody, '5xx': ErrorBody },
        tags: ['vms'],
      },
    },
    async (req, reply) => {
      const { ws, vm } = req.params;
      await check(req.headers, ws, vm, req.id);
      const query = req.query.bytes ? `?bytes=${req.query.bytes}` : '';
      let res: Response;
      try {
        res = await fetch(`${computeUrl}/console/${seg(ws)}/${seg(vm)}/log/${query}`, {
          headers: { token: await ctx.serviceToken(), 'x-request-id': req.id },
          signal: AbortSignal.timeout(ctx.config.HTTP_TIMEOUT * 1000),
        });
      } catch (e) {
        ctx.log.warn({ err: (e as Error).message, reqId: req.id }, 'compute console bridge unreachable');
        throw unavailable("compute's console bridge does not answer; try again");
      }
      const body = await res.text();
      if (!res.ok) throw relayed(res.status, body);
      return reply.type('text/plain; charset=utf-8').send(body);
    },
  );

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024,
    // Never the token protocol: selecting it would echo the token in the answer's headers.
    handleProtocols: (offered) => (offered.has(CONSOLE_PROTOCOL) ? CONSOLE_PROTOCOL : false),
  });

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const params = pathParams(req.url ?? '/', 'console');
    if (!params) return refuseUpgrade(socket, 404, { error: 'no websocket here: /console/<ws>/<vm>/' });
    const [ws, name] = params;
    const requestId = String(req.headers['x-request-id'] ?? '');
    const { vm, token } = await check(req.headers, ws, name, requestId);
    if (vm.state !== 'U' && vm.state !== 'C_N')
      throw conflict(
        'vm',
        `vm ${name} is ${vm.state} (${STATE_WORDS[vm.state]}): its console opens while it runs`,
      );
    const { upstream, early, keep } = await openUpstream(
      `${computeUrl.replace(/^http/, 'ws')}/console/${seg(ws)}/${seg(name)}/`,
    );
    if (socket.destroyed) return void upstream.terminate();
    wss.handleUpgrade(req, socket, head, (client) => {
      // The console stays open as long as the token that opened it.
      const exp = decodeJwt(token).exp;
      const expiry =
        exp === undefined
          ? undefined
          : setTimeout(
              () => client.close(CONSOLE_CLOSE.ended, 'token expired'),
              Math.max(Math.min(exp * 1000 - Date.now(), 2 ** 31 - 1), 0),
            );
      expiry?.unref();
      upstream.off('message', keep);
      for (const b of early) client.send(b);
      upstream.on('message', (data) => client.readyState === WebSocket.OPEN && client.send(toBuffer(data)));
      client.on('message', (data) => upstream.readyState === WebSocket.OPEN && upstream.send(toBuffer(data)));
      upstream.on('close', (code, reason) => {
        if (client.readyState === WebSocket.OPEN)
          client.close(code === 1005 || code === 1006 ? CONSOLE_CLOSE.unavailable : code, reason);
      });
      client.on('close', () => {
        clearTimeout(expiry);
        upstream.close();
      });
      client.on('error', () => undefined);
    });
  }

  /**
   * The compute side, open (or the reason it refused, as an error with its status), and what it said before
   * the client's side is open (the recent output): kept from the moment it opens, since the first frames may
   * come with the handshake's answer, before any continuation of ours runs.
   */
  async function openUpstream(
    url: string,
  ): Promise<{ upstream: WebSocket; early: Buffer[]; keep: (data: RawData) => void }> {
    const early: Buffer[] = [];
    const keep = (data: RawData) => void early.push(toBuffer(data));
    const upstream = new WebSocket(url, [CONSOLE_PROTOCOL], {
      headers: { token: await ctx.serviceToken() },
      handshakeTimeout: ctx.config.HTTP_TIMEOUT * 1000,
      perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
      upstream.once('open', () => {
        upstream.on('message', keep);
        resolve({ upstream, early, keep });
      });
      upstream.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString('utf8')));
        res.on('end', () => reject(relayed(res.statusCode ?? 502, body)));
        upstream.on('error', () => undefined);
      });
      upstream.once('error', (e) => {
        ctx.log.warn({ err: e.message }, 'compute console bridge unreachable');
        reject(unavailable("compute's console bridge does not answer; try again"));
      });
    });
  }

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    onUpgrade(req, socket, head).catch((e: unknown) => refuseUpgradeWith(socket, e));
  });
  app.addHook('preClose', async () => {
    for (const c of wss.clients) c.close(CONSOLE_CLOSE.goingAway, 'controller shutting down');
  });
}

/** Compute's refusal, passed on with its status and words (a 401 from compute is the controller's fault: 503). */
function relayed(status: number, body: string): AppError {
  let parsed: { error?: unknown; field?: unknown } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // not JSON: the status says enough
  }
  const message = typeof parsed.error === 'string' ? parsed.error : `compute answered ${status}`;
  const kind = status === 401 || status === 403 ? 'unavailable' : (kindOfStatus(status) ?? 'unavailable');
  return new AppError(kind, message, typeof parsed.field === 'string' ? parsed.field : undefined);
}
