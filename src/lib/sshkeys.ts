// OpenSSH public keys as users paste them (`<type> <base64> [comment]`, one line of ~/.ssh/id_*.pub): parsed
// and checked before they are stored or written into a guest's authorized_keys, and their fingerprint in
// the form `ssh-keygen -l` prints (SHA256 of the key blob, unpadded base64). A key is refused when its blob
// does not say the type it claims or its parts have the wrong sizes: such a line would only fail in the guest.
import { createHash } from 'node:crypto';

export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export interface SshPublicKey {
  type: SshKeyType;
  /** The key in the canonical form `<type> <base64>[ <comment>]`, one line. */
  line: string;
  comment: string;
  /** `SHA256:<base64>`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** RSA modulus bits, or the curve's size. */
  bits: number;
}

export class SshKeyError extends Error {}

/** The strings of an SSH wire-format blob (RFC 4251 `string`: uint32 length, then bytes). */
function wireStrings(blob: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length && out.length < n) {
    if (at + 4 > blob.length) throw new SshKeyError('the key data is truncated');
    const len = blob.readUInt32BE(at);
    at += 4;
    if (at + len > blob.length) throw new SshKeyError('the key data is truncated');
    out.push(blob.subarray(at, at + len));
    at += len;
  }
  if (out.length !== n || at !== blob.length)
    throw new SshKeyError('the key data has the wrong number of parts');
  return out;
}

/** Bits of an SSH mpint (big-endian, a leading zero byte keeps it positive). */
function mpintBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}

const CURVES: Record<string, { id: string; point: number; bits: number }> = {
  'ecdsa-sha2-nistp256': { id: 'nistp256', point: 65, bits: 256 },
  'ecdsa-sha2-nistp384': { id: 'nistp384', point: 97, bits: 384 },
  'ecdsa-sha2-nistp521': { id: 'nistp521', point: 133, bits: 521 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { id: 'nistp256', point: 65, bits: 256 },
};

/** Checks the blob's parts for its type; answers the key's size in bits. */
function checkBlob(type: SshKeyType, blob: Buffer): number {
  const name = (b: Buffer) => b.toString('latin1');
  switch (type) {
    case 'ssh-ed25519': {
      const [t, key] = wireStrings(blob, 2);
      if (name(t) !== type || key.length !== 32) throw new SshKeyError('not an ed25519 key');
      return 256;
    }
    case 'sk-ssh-ed25519@openssh.com': {
      const [t, key] = wireStrings(blob, 3);
      if (name(t) !== type || key.length !== 32) throw new SshKeyError('not an ed25519-sk key');
      return 256;
    }
    case 'ssh-rsa': {
      const [t, e, n] = wireStrings(blob, 3);
      if (name(t) !== type || mpintBits(e) < 2) throw new SshKeyError('not an RSA key');
      const bits = mpintBits(n);
      // OpenSSH itself refuses RSA keys under 1024 bits; 2048 is today's floor.
      if (bits < 2048 || bits > 16384) throw new SshKeyError(`an RSA key of ${bits} bits (2048-16384 taken)`);
      return bits;
    }
    default: {
      const c = CURVES[type];
      const parts = wireStrings(blob, type.startsWith('sk-') ? 4 : 3);
      if (
        name(parts[0]) !== type ||
        name(parts[1]) !== c.id ||
        parts[2].length !== c.point ||
        parts[2][0] !== 4
      )
        throw new SshKeyError(`not an ${type} key`);
      return c.bits;
    }
  }
}

/** Parses one OpenSSH public key line; throws SshKeyError saying what is wrong. */
export function parseSshPublicKey(text: string): SshPublicKey {
  const s = text.trim();
  if (/[\r\n\0]/.test(s)) throw new SshKeyError('one key, on one line');
  if (s.length > 16384) throw new SshKeyError('longer than any public key');
  const m = /^(\S+) +([A-Za-z0-9+/]+={0,2})(?: +([\x20-\x7e]*))?$/.exec(s);
  if (!m) throw new SshKeyError('not of the form "<type> <base64> [comment]"');
  const type = SSH_KEY_TYPES.find((t) => t === m[1]);
  if (!type) throw new SshKeyError(`key type ${m[1].slice(0, 40)} is not one of ${SSH_KEY_TYPES.join(', ')}`);
  const blob = Buffer.from(m[2], 'base64');
  if (blob.toString('base64') !== m[2]) throw new SshKeyError('the key data is not valid base64');
  const bits = checkBlob(type, blob);
  const comment = (m[3] ?? '').trim();
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return {
    type,
    line: comment ? `${type} ${m[2]} ${comment}` : `${type} ${m[2]}`,
    comment,
    fingerprint,
    bits,
  };
}
