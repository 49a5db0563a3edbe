// Issue 15 (console) at the controller, with compute's console bridge scripted in the test (a websocket server
// that echoes): the token and vm_can_edit are checked before the upgrade (a refusal is a plain HTTP answer,
// nothing opened), the token may come as a subprotocol (browsers) and is never echoed, bytes travel both ways
// with the controller's service token on the compute side, and the log is relayed as text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { createTokenVerifier } from '../../src/lib/auth.ts';
import { CONSOLE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../../src/lib/contracts/console.ts';
import { uniqueName } from '../support/env.ts';
import { startPlatform, until, type TestPlatform } from '../support/platform.ts';
import { newTenant, scriptedVm } from '../support/tenants.ts';
import { scriptedWorker } from '../support/workers.ts';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Compute's bridge as the test scripts it: records who came, echoes input as `echo:<input>`. */
async function scriptedBridge(verify: (token: string) => Promise<boolean>) {
  const seen: { url: string; service: boolean; protocol: string }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', service: true, protocol: '' });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('kloudak-guest up vm 10.0.0.2\nlogin: ');
  });
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => CONSOLE_PROTOCOL });
  server.on('upgrade', (req, socket, head) => {
    void verify(String(req.headers.token ?? '')).then((service) => {
      seen.push({ url: req.url ?? '', service, protocol: String(req.headers['sec-websocket-protocol']) });
      if (!service) return void socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(Buffer.from('login: '));
        ws.on('message', (d) => ws.send(Buffer.concat([Buffer.from('echo:'), d as Buffer])));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Opens a console websocket; answers the socket, or the HTTP status it was refused with. */
function open(url: string, o: { headers?: Record<string, string>; protocols?: string[] }) {
  return new Promise<{ ws?: WebSocket; got: string[]; status?: number; body?: string; protocol?: string }>(
    (resolve) => {
      const ws = new WebSocket(url, o.protocols ?? [], { headers: o.headers });
      // Frames may come with the handshake's answer: listen from the start.
      const got: string[] = [];
      ws.on('message', (d) => got.push(String(d)));
      ws.once('open', () => resolve({ ws, got, protocol: ws.protocol }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += String(b)));
        res.on('end', () => resolve({ got, status: res.statusCode, body }));
      });
      ws.once('error', () => undefined);
    },
  );
}

describe('the console through the controller (compute bridge scripted)', () => {
  let p: TestPlatform;
  let bridge: Awaited<ReturnType<typeof scriptedBridge>>;
  let ws: string;
  let token: string;
  let vm: string;
  let wsUrl: string;

  before(async () => {
    // The bridge must be up before the controller is made (COMPUTE_URL is read at start).
    let verify: (t: string) => Promise<boolean> = async () => false;
    bridge = await scriptedBridge((t) => verify(t));
    p = await startPlatform('pglite', 'memory', { COMPUTE_URL: bridge.url });
    const pem = readFileSync(join(p.config.DATA_DIR, 'inventory', 'jwt-ed25519.pem'), 'utf8');
    const verifier = createTokenVerifier(createPublicKey(createPrivateKey(pem)));
    verify = (t) =>
      verifier.verify(t).then(
        (pr) => pr.isService,
        () => false,
      );
    const admin = await p.inv.adminToken();
    await p.inv.call('POST', '/templates/', admin, { name: 'tiny', cpu: 1, ram: 0.125, disk: 1 });
    const t = await newTenant(p, admin);
    ({ ws, token } = t);
    vm = await scriptedVm(p, t, { password: 'pw1' });
    wsUrl = `${p.controllerUrl.replace(/^http/, 'ws')}/console/${ws}/${vm}/`;
  });
  after(async () => {
    await p?.close();
    await bridge?.close();
  });

  test('refused before the upgrade: no token 401, a non-member or a member without vm_can_edit 403, unknown VM 404', async () => {
    const before = bridge.seen.length;
    assert.equal((await open(wsUrl, {})).status, 401);
    assert.equal((await open(wsUrl, { headers: { token: 'not-a-token' } })).status, 401);
    const outsider = await p.inv.user(uniqueName('o'));
    assert.equal((await open(wsUrl, { headers: { token: outsider } })).status, 403);
    const weak = uniqueName('w');
    await p.inv.user(weak);
    await p.inv.addMember(ws, token, weak, { vm_can_edit: false }); // invited and accepted (issue 14.6)
    const refused = await open(wsUrl, {
      protocols: [CONSOLE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${await p.inv.login(weak)}`],
    });
    assert.equal(refused.status, 403);
    assert.match(refused.body ?? '', /vm_can_edit/);
    const ghost = await open(wsUrl.replace(`/${vm}/`, '/ghost/'), { headers: { token } });
    assert.equal(ghost.status, 404);
    // The URL never carries a token: /console/<ws>/<vm>/<token> is no route.
    assert.equal((await open(`${wsUrl}${token}/`, {})).status, 404);
    assert.equal(bridge.seen.length, before, 'compute was never reached');
    // The log, too.
    const log = await fetch(`${p.controllerUrl}/console/${ws}/${vm}/log/`, { headers: { token: outsider } });
    assert.equal(log.status, 403);
  });

  test('bytes both ways, the token as a subprotocol never echoed, compute reached with a service token', async () => {
    const a = await open(wsUrl, { protocols: [CONSOLE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`] });
    assert.ok(a.ws, `opened (${a.status} ${a.body})`);
    assert.equal(a.protocol, CONSOLE_PROTOCOL, 'the console protocol is selected, not the token');
    const got = a.got;
    await until('the prompt', () => got.join('').includes('login: ') || undefined, 5000, 20);
    a.ws.send(Buffer.from('root\r'));
    await until('the echo', () => got.join('').includes('echo:root\r') || undefined, 5000, 20);
    const last = bridge.seen.at(-1)!;
    assert.equal(last.url, `/console/${ws}/${vm}/`);
    assert.equal(last.service, true, "compute saw the controller's service token, not the user's");
    a.ws.close();
    // Authorization: Bearer works as well.
    const b = await open(wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      protocols: [CONSOLE_PROTOCOL],
    });
    assert.ok(b.ws);
    b.ws.close();
    const log = await fetch(`${p.controllerUrl}/console/${ws}/${vm}/log/?bytes=100`, { headers: { token } });
    assert.equal(log.status, 200);
    assert.match(log.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(await log.text(), /login: $/);
    assert.equal(bridge.seen.at(-1)!.url, `/console/${ws}/${vm}/log/?bytes=100`);
  });

  test('a VM that is down has no console: 409 naming its state', async () => {
    const worker = await scriptedWorker(p.bus, 'vm', ws, () => ({ status: 'successful', host: 'h1' }));
    try {
      const r = await p.call('POST', '/vms/power/', token, { owner: ws, name: vm, action: 'off' });
      assert.equal(
        (await p.call('GET', `/task/${r.body.task_id}/?wait=30`, token)).body.status,
        'successful',
      );
    } finally {
      await worker.stop();
    }
    const refused = await open(wsUrl, { headers: { token } });
    assert.equal(refused.status, 409);
    assert.match(refused.body ?? '', /is D \(down\)/);
  });
});
