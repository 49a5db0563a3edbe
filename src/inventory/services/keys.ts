// Users' SSH public keys: each user keeps their own (add, list, delete); a key is checked and its fingerprint
// computed once, when it is added. Services (the controller, resolving a VM's ssh_keys) and admins read any
// user's keys; a user reads only their own, and a user who is not there reads as missing.
import type { Principal } from '../../lib/auth.ts';
import { MAX_KEYS_PER_USER, type SshKey, type SshKeyBody } from '../../lib/contracts/inventory.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notAllowed, notFound } from '../../lib/errors.ts';
import { parseSshPublicKey, SshKeyError } from '../../lib/sshkeys.ts';
import type { Store } from '../repositories/index.ts';

export function keysService(store: Store) {
  /** The id of the user whose keys are read: the caller's own unless a service or an admin names another. */
  async function ownerOf(p: Principal, user?: string): Promise<number> {
    const name = user ?? p.username;
    if (name !== p.username && !p.isService && !p.isAdmin)
      throw notAllowed('a user reads only their own keys', 'user');
    const u = await store.users.idOf(name);
    if (!u) throw notFound('user', `no user ${name}`);
    return u.id;
  }
  return {
    list: async (p: Principal, user?: string): Promise<SshKey[]> =>
      store.sshKeys.list(await ownerOf(p, user)),

    async add(p: Principal, body: SshKeyBody): Promise<SshKey> {
      const u = await store.users.idOf(p.username);
      if (!u || p.isService) throw notAllowed('only user accounts keep keys');
      let key;
      try {
        key = parseSshPublicKey(body.public_key);
      } catch (e) {
        if (e instanceof SshKeyError) throw inputError('public_key', `not an SSH public key: ${e.message}`);
        throw e;
      }
      const row = {
        name: body.name,
        public_key: key.line,
        type: key.type,
        bits: key.bits,
        fingerprint: key.fingerprint,
        comment: key.comment,
      };
      try {
        await store.transaction(async (tx) => {
          if ((await tx.sshKeys.count(u.id)) >= MAX_KEYS_PER_USER)
            throw conflict('name', `at most ${MAX_KEYS_PER_USER} keys per user`);
          await tx.sshKeys.insert(u.id, row);
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('name', `you have a key named ${body.name}`);
        throw e;
      }
      return row;
    },

    async remove(p: Principal, name: string) {
      const u = await store.users.idOf(p.username);
      if (!u || !(await store.sshKeys.remove(u.id, name))) throw notFound('name', `you have no key ${name}`);
      return { name, deleted: true as const };
    },
  };
}
