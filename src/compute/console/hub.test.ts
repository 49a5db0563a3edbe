import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/log.ts';
import type { HostTerminals, TerminalSession } from '../../lib/ssh.ts';
import { consoleCommand, createConsoleHub, type ConsoleClient } from './hub.ts';

/** Host terminals of the test only: each open is recorded, with what was written to it. */
function fakeTerminals() {
  const opened: {
    address: string;
    argv: string[];
    written: Buffer[];
    closed: boolean;
    emit(s: string): void;
    exit(why: string): void;
  }[] = [];
  const terminals: HostTerminals = {
    open(address, argv): TerminalSession {
      const data: ((b: Buffer) => void)[] = [];
      const exits: ((why: string) => void)[] = [];
      const t = {
        address,
        argv,
        written: [] as Buffer[],
        closed: false,
        emit: (s: string) => data.forEach((f) => f(Buffer.from(s))),
        exit: (why: string) => exits.forEach((f) => f(why)),
      };
      opened.push(t);
      return {
        write: (b) => void t.written.push(b),
        onData: (f) => void data.push(f),
        onExit: (f) => void exits.push(f),
        close: () => {
          t.closed = true;
          t.exit('closed');
        },
      };
    },
  };
  return { terminals, opened };
}

function client() {
  const got: string[] = [];
  const ended: string[] = [];
  const c: ConsoleClient = { send: (b) => void got.push(b.toString()), end: (w) => void ended.push(w) };
  return { c, got, ended, text: () => got.join('') };
}

const log = createLogger('test', 'silent');
const BANNER =
  "Authorization not available.\nConnected to domain 'kloudak-x'\nEscape character is ^] (Ctrl + ])\n";
const settle = () => new Promise((r) => setTimeout(r, 20));
const target = { address: '10.0.0.1', domain: 'kloudak-x' };

test('two clients share one console session: both see the output, both can type', async () => {
  const { terminals, opened } = fakeTerminals();
  const hub = createConsoleHub({ terminals, log, settleMs: 0 });
  const a = client();
  const b = client();
  const ia = hub.attach(target, a.c);
  const ib = hub.attach(target, b.c);
  assert.equal(opened.length, 1, 'one virsh console for the domain');
  assert.deepEqual(opened[0].argv, consoleCommand('kloudak-x'));
  assert.equal(opened[0].address, '10.0.0.1');
  // Typed before virsh is attached: held, then written once it is (virsh flushes what comes earlier).
  ia.input(Buffer.from('ls\r'));
  assert.deepEqual(opened[0].written, []);
  opened[0].emit(`${BANNER}\r\nlogin: `);
  await settle();
  ib.input(Buffer.from('pwd\r'));
  opened[0].emit('hello\r\n');
  // virsh's own banner is not the guest's output.
  assert.equal(a.text(), '\r\nlogin: hello\r\n');
  assert.equal(b.text(), '\r\nlogin: hello\r\n');
  assert.deepEqual(opened[0].written.map(String), ['ls\r', 'pwd\r']);
  hub.close();
});

test('Ctrl-] never reaches the console: no client ends it for everyone', async () => {
  const { terminals, opened } = fakeTerminals();
  const hub = createConsoleHub({ terminals, log, settleMs: 0 });
  const a = hub.attach(target, client().c);
  opened[0].emit(BANNER);
  await settle();
  a.input(Buffer.from([0x61, 0x1d, 0x62]));
  a.input(Buffer.from([0x1d]));
  assert.deepEqual(opened[0].written.map(String), ['ab']);
  hub.close();
});

test('a late client gets the recent output first; the session ends a while after the last client leaves', async () => {
  const { terminals, opened } = fakeTerminals();
  const hub = createConsoleHub({ terminals, log, lingerMs: 50, replayBytes: 8 });
  const a = client();
  const ia = hub.attach(target, a.c);
  opened[0].emit(BANNER);
  opened[0].emit('0123456789');
  opened[0].emit('abcdef');
  const late = client();
  const il = hub.attach(target, late.c);
  assert.ok(late.text().endsWith('abcdef') && late.text().length >= 8, late.text());
  ia.detach();
  il.detach();
  assert.equal(opened[0].closed, false, 'lingers');
  // Coming back within the linger keeps the session.
  const again = hub.attach(target, client().c);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(opened[0].closed, false);
  again.detach();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(opened[0].closed, true);
  assert.deepEqual(hub.sessions(), []);
});

test('a virsh without a banner: its output passes once the wait for one ends', async () => {
  const { terminals, opened } = fakeTerminals();
  const hub = createConsoleHub({ terminals, log, settleMs: 0, bannerWaitMs: 30 });
  const a = client();
  const ia = hub.attach(target, a.c);
  ia.input(Buffer.from('x'));
  opened[0].emit('plain output');
  assert.equal(a.text(), '');
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(a.text(), 'plain output');
  assert.deepEqual(opened[0].written.map(String), ['x']);
  hub.close();
});

test('the console ending (the VM stopped) tells every client why; the next attach opens a new one', () => {
  const { terminals, opened } = fakeTerminals();
  const hub = createConsoleHub({ terminals, log });
  const a = client();
  hub.attach(target, a.c);
  opened[0].exit('error: The domain is not running');
  assert.deepEqual(a.ended, ['error: The domain is not running']);
  assert.deepEqual(hub.sessions(), []);
  hub.attach(target, client().c);
  assert.equal(opened.length, 2);
  hub.close();
});
