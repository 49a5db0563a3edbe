// `kloudak keys add|list|delete`: the caller's SSH public keys in inventory, named for `vm create --ssh-key`.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { SshKey } from '../../lib/contracts/inventory.ts';
import { Client, seg, usage } from './client.ts';
import { note, printList, printObject } from './output.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function keyCommands(program: Command): void {
  const keys = program.command('keys').description('your SSH public keys (for vm create --ssh-key)');
  keys
    .command('add')
    .description('add a public key under a name; prints its fingerprint')
    .argument('<name>', 'key name')
    .argument('<file>', 'the public key file (~/.ssh/id_ed25519.pub), or - for stdin')
    .option('--json', 'print JSON')
    .action(async (name: string, file: string, o: { json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      let text: string;
      try {
        text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      } catch (e) {
        throw usage(`cannot read ${file}: ${(e as Error).message}`, 'public_key');
      }
      if (/PRIVATE KEY/.test(text)) throw usage(`${file} is a private key: give the .pub file`, 'public_key');
      const k = await client.inventory<SshKey>('POST', '/keys/', { body: { name, public_key: text.trim() } });
      if (o.json) return printObject(true, k);
      note(`key ${k.name} added: ${k.bits} ${k.fingerprint} ${k.comment} (${k.type})`);
    });
  keys
    .command('list')
    .description('your keys with their fingerprints (as ssh-keygen -l prints them)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const client = Client.of(cmd);
      const rows = (await client.inventory<{ keys: SshKey[] }>('GET', '/keys/')).keys;
      printList(o.json, rows, [
        ['NAME', (k) => k.name],
        ['TYPE', (k) => k.type],
        ['BITS', (k) => k.bits],
        ['FINGERPRINT', (k) => k.fingerprint],
        ['COMMENT', (k) => k.comment],
      ]);
    });
  keys
    .command('delete')
    .description('delete a key (VMs made with it keep it in their authorized_keys)')
    .argument('<name>', 'key name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const client = Client.of(cmd);
      await client.inventory('DELETE', `/keys/${seg(name)}/`);
      note(`key ${name} deleted`);
    });
}
