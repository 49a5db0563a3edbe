// What a new VM's guest is given beyond the platform's own seed: the public keys of the caller's keys that
// ssh_keys names, and the user's #cloud-config, checked here so that a bad one is a 400 naming the field
// (compute merges it with the platform's keys when it writes the seed: src/lib/cloud-config.ts).
import type { Principal } from '../../lib/auth.ts';
import { checkUserData } from '../../lib/cloud-config.ts';
import type { VmPost } from '../../lib/contracts/controller.ts';
import type { VmCreateTask } from '../../lib/contracts/messages.ts';
import { AppError, inputError } from '../../lib/errors.ts';
import type { ControllerContext } from '../context.ts';

export type GuestConfig = Pick<VmCreateTask, 'ssh_keys' | 'user_data'>;

export async function guestConfig(
  ctx: ControllerContext,
  p: Principal,
  b: Pick<VmPost, 'ssh_keys' | 'user_data'>,
  requestId: string,
): Promise<GuestConfig> {
  const out: GuestConfig = {};
  if (b.user_data !== undefined) {
    checkUserData(b.user_data, 'user_data');
    out.user_data = b.user_data;
  }
  if (b.ssh_keys?.length) {
    // The caller's own keys: a service token has none.
    const keys = await ctx.inventory.keys.ofUser(p.username, { requestId }).catch((e: unknown) => {
      if (e instanceof AppError && e.kind === 'not_found')
        throw inputError('ssh_keys', 'the caller keeps no keys');
      throw e;
    });
    const byName = new Map(keys.map((k) => [k.name, k.public_key]));
    const missing = b.ssh_keys.filter((n) => !byName.has(n));
    if (missing.length) throw inputError('ssh_keys', `you have no key named ${missing.join(', ')}`);
    out.ssh_keys = b.ssh_keys.map((n) => byName.get(n) ?? '');
  }
  return out;
}
