// Guests' root passwords and first-boot commands at rest: a task row and its outbox rows hold them only
// sealed (AES-256-GCM, bound to the task id), and only while the task may still send them (a retry, a
// rollback). The relay unseals a message as it publishes it and then drops the sealed copy from the outbox
// row; when the task ends its own copy goes too (store.ts finishTask). A database dump or backup therefore
// holds no guest password in the clear, and after a task ends none at all.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import type { SentTask } from './schema.ts';

/** The fields sealed: what a guest's owner would not want read from a database dump (a user's
 * #cloud-config may hold their own secrets, as the logs' redaction assumes). */
const SECRET_FIELDS = ['password', 'runcmd', 'user_data'] as const;
type SecretField = (typeof SECRET_FIELDS)[number];

/** A task message as stored: its secrets in `sealed`, if it had any. */
export type StoredTask = SentTask extends infer T
  ? T extends unknown
    ? Omit<T, SecretField> & { sealed?: string }
    : never
  : never;

export interface Sealer {
  /** Names the key without revealing it: equal for two sealers exactly when their keys are. */
  readonly keyCheck: string;
  seal(taskId: string, body: SentTask): StoredTask;
  open(taskId: string, body: StoredTask): SentTask;
}

/** `secret` is any string of enough entropy (the TASK_KEY setting or the generated key file). */
export function createSealer(secret: string): Sealer {
  const key = createHash('sha256').update(`kloudak-task-seal\0${secret}`).digest();
  return {
    keyCheck: createHmac('sha256', key).update('kloudak-task-key-check').digest('hex'),
    seal(taskId, body) {
      const secrets: Record<string, unknown> = {};
      const rest: Record<string, unknown> = { ...body };
      for (const f of SECRET_FIELDS)
        if (f in rest) {
          secrets[f] = rest[f];
          delete rest[f];
        }
      if (!Object.keys(secrets).length) return rest as StoredTask;
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(taskId));
      const data = Buffer.concat([c.update(JSON.stringify(secrets), 'utf8'), c.final()]);
      return { ...rest, sealed: Buffer.concat([iv, c.getAuthTag(), data]).toString('base64') } as StoredTask;
    },
    open(taskId, body) {
      const { sealed, ...rest } = body;
      if (sealed === undefined) return rest;
      const raw = Buffer.from(sealed, 'base64');
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(taskId));
      d.setAuthTag(raw.subarray(12, 28));
      let plain: Buffer;
      try {
        plain = Buffer.concat([d.update(raw.subarray(28)), d.final()]);
      } catch {
        // Not a format fault: another key sealed it (or another task's row). The operator must hear which.
        throw new Error(
          `task ${taskId}: its sealed secrets do not authenticate with this controller's key: every controller of one database needs the same KLOUDAK_TASK_KEY`,
        );
      }
      return { ...rest, ...(JSON.parse(plain.toString('utf8')) as Record<string, unknown>) };
    },
  };
}
