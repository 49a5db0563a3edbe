// Developer entry point of the lab (the `kloudak lab` CLI calls the same functions):
//   npx tsx src/lab/main.ts up --hosts 2 [--state-dir DIR] | down | status | cut <host> | restore <host>
import { parseArgs } from 'node:util';
import { labUp, labDown, labStatus, labCutHost, labRestoreHost } from './index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    hosts: { type: 'string', default: '2' },
    'state-dir': { type: 'string', default: process.env.KLOUDAK_LAB_DIR ?? '/var/lib/kloudak/lab' },
  },
});
const stateDir = values['state-dir'];
const t0 = Date.now();
const log = (l: string) => console.error(`lab [${((Date.now() - t0) / 1000).toFixed(1)}s]: ${l}`);
const [cmd, arg] = positionals;

switch (cmd) {
  case 'up': {
    const status = await labUp({ hosts: Number(values.hosts), stateDir, log });
    console.log(JSON.stringify(status, null, 2));
    break;
  }
  case 'down':
    await labDown({ stateDir, log });
    break;
  case 'status':
    console.log(JSON.stringify(await labStatus(stateDir), null, 2));
    break;
  case 'cut':
  case 'restore':
    if (!arg) throw new Error(`usage: ${cmd} <host>`);
    await (cmd === 'cut' ? labCutHost(stateDir, arg) : labRestoreHost(stateDir, arg));
    break;
  default:
    console.error(
      'usage: main.ts up --hosts N | down | status | cut <host> | restore <host>  [--state-dir DIR]',
    );
    process.exitCode = 2;
}
