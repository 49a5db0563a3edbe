// Users' SSH public keys.
import type { Db } from './index.ts';

export interface SshKeyRow {
  name: string;
  public_key: string;
  type: string;
  bits: number;
  fingerprint: string;
  comment: string;
}

const COLUMNS = ['name', 'public_key', 'type', 'bits', 'fingerprint', 'comment'] as const;

export function sshKeysRepository(db: Db) {
  return {
    list: (userId: number) =>
      db.selectFrom('ssh_keys').select(COLUMNS).where('user_id', '=', userId).orderBy('name').execute(),
    count: async (userId: number) =>
      Number(
        (
          await db
            .selectFrom('ssh_keys')
            .select((e) => e.fn.countAll().as('n'))
            .where('user_id', '=', userId)
            .executeTakeFirstOrThrow()
        ).n,
      ),
    async insert(userId: number, k: SshKeyRow) {
      await db
        .insertInto('ssh_keys')
        .values({ user_id: userId, ...k })
        .execute();
    },
    /** Answers whether there was one. */
    async remove(userId: number, name: string) {
      const r = await db
        .deleteFrom('ssh_keys')
        .where('user_id', '=', userId)
        .where('name', '=', name)
        .executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
  };
}
