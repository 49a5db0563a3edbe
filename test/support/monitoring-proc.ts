// A monitoring process for tests that SIGKILL it: configured from KLOUDAK_* variables, watching a fixed list
// of MON_TEST_HOSTS fake hosts (libvirt's test:///default driver) instead of inventory's. It prints one JSON
// line per event on stdout: ready, leader (on every change), cycle (each cycle it leads).
import { createBus } from '../../src/lib/bus/index.ts';
import { loadConfig } from '../../src/lib/config.ts';
import { unauthenticated } from '../../src/lib/errors.ts';
import { createLogger } from '../../src/lib/log.ts';
import { createVirshProbe } from '../../src/monitoring/probe.ts';
import { createVirshSessions } from '../../src/monitoring/sessions.ts';
import { createMonitoring } from '../../src/monitoring/service.ts';

const config = loadConfig();
const log = createLogger('monitoring', config.LOG_LEVEL);
const n = Number(process.env.MON_TEST_HOSTS ?? 10);
const hosts = Array.from({ length: n }, (_, i) => ({
  name: `fake-${String(i).padStart(3, '0')}`,
  address: '127.0.0.1',
  libvirt_uri: 'test:///default',
  area: 'fake',
  cpus: 16,
  memory: 3,
  domain_type: 'qemu',
}));
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

const bus = await createBus({ url: config.BUS, log });
const m = await createMonitoring({
  config,
  log,
  bus,
  catalogue: { hosts: async () => hosts, pools: async () => [] },
  // The product's probe takes SSH transports only; these fake hosts are libvirt's test driver.
  probe: createVirshProbe(
    { run: () => Promise.reject(new Error('no pools here')) },
    createVirshSessions({ max: config.MONITOR_SESSIONS }),
    { checkUri: () => undefined },
  ),
  verifier: { verify: async () => Promise.reject(unauthenticated()) },
});
let leader = m.election.isLeader();
say({ event: 'ready', id: m.election.id, leader, pid: process.pid });
m.election.onChange(() => {
  if (m.election.isLeader() === leader) return;
  leader = m.election.isLeader();
  say({ event: 'leader', id: m.election.id, leader, at: Date.now() });
});
m.onCycle((r) =>
  say({
    event: 'cycle',
    id: m.election.id,
    cycle: r.cycle,
    members: r.members,
    assignment: r.assignment,
    reported: r.reports.map((x) => x.member),
    missing: r.missing,
    ms: r.ms,
    at: Date.now(),
  }),
);
const stop = async () => {
  await m.close();
  await bus.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
