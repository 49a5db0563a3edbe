// IPv4 arithmetic for area subnets. Addresses are stored as integers so the allocator can work in SQL.

export interface Subnet {
  network: number;
  prefix: number;
  /** First and last host addresses (network and broadcast excluded). */
  first: number;
  last: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIp(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses "a.b.c.d/p" with its host bits zero; prefixes 16..30 (a /8 would make the allocator scan 16M rows). */
export function parseSubnet(s: string, minPrefix = 16): Subnet | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix < minPrefix || prefix > 30) return undefined;
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) return undefined;
  return { network: ip, prefix, first: ip + 1, last: ip + size - 2 };
}

export function inSubnet(ip: number, s: Subnet): boolean {
  return ip >= s.first && ip <= s.last;
}
