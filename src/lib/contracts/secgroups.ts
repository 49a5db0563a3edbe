// Security groups (issue 17): named sets of rules per workspace that VMs' NICs belong to. The schemas and the
// checks a schema cannot say (a port range only for tcp/udp, min <= max, one remote at most), shared by
// inventory and the controller so both refuse the same rules with the same field.
import { Type, type Static } from 'typebox';
import { parseIp } from '../ipv4.ts';
import { inputError } from '../errors.ts';
import { Name, OneOf, Text } from './common.ts';

export const DIRECTIONS = ['ingress', 'egress'] as const;
export const PROTOCOLS = ['tcp', 'udp', 'icmp', 'any'] as const;
const Port = Type.Integer({ minimum: 1, maximum: 65535 });

export const SgRule = Type.Object(
  {
    direction: OneOf(DIRECTIONS),
    protocol: OneOf(PROTOCOLS),
    port_min: Type.Optional(Port),
    port_max: Type.Optional(Port),
    remote_cidr: Type.Optional(
      Type.String({ pattern: '^[0-9.]{7,15}/[0-9]{1,2}$', description: 'IPv4 network a.b.c.d/p' }),
    ),
    remote_group: Type.Optional(Name('security group whose members may talk')),
  },
  { additionalProperties: false },
);
export const SgRules = Type.Array(SgRule, { maxItems: 64 });

/** The group every new workspace has and new VMs join unless told otherwise. */
export const DEFAULT_GROUP = 'default';
export const DEFAULT_DESCRIPTION = 'all egress; ingress from members of this group';
/** Its rules: all egress, ingress only from members of the same group. */
export const DEFAULT_RULES: SgRule[] = [
  { direction: 'egress', protocol: 'any', remote_cidr: '0.0.0.0/0' },
  { direction: 'ingress', protocol: 'any', remote_group: DEFAULT_GROUP },
];

export const SecurityGroupBody = Type.Object({
  name: Name(),
  description: Type.Optional(Text(1024)),
  rules: SgRules,
  task: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' })),
});
export const SecurityGroupUpdate = Type.Object({
  description: Type.Optional(Text(1024)),
  rules: Type.Optional(SgRules),
});
export const SecurityGroup = Type.Object({
  name: Type.String(),
  description: Type.String(),
  rules: SgRules,
});
export const SecurityGroupList = Type.Object({ security_groups: Type.Array(SecurityGroup) });
/** VMs name the groups their NICs belong to. */
export const GroupNames = Type.Array(Name('security group'), { maxItems: 16, uniqueItems: true });

export type SgRule = Static<typeof SgRule>;
export type SecurityGroup = Static<typeof SecurityGroup>;
export type SecurityGroupBody = Static<typeof SecurityGroupBody>;
export type SecurityGroupUpdate = Static<typeof SecurityGroupUpdate>;

/** What the schema cannot check; a bad rule is a 400 naming `rules.<i>.<field>`. `groups`: the names a
 * remote_group may take (the workspace's groups, and the group itself). */
export function checkRules(rules: SgRule[], groups: ReadonlySet<string>, field = 'rules'): void {
  rules.forEach((r, i) => {
    const f = (name: string) => `${field}.${i}.${name}`;
    const ported = r.protocol === 'tcp' || r.protocol === 'udp';
    if (!ported && (r.port_min !== undefined || r.port_max !== undefined))
      throw inputError(f('port_min'), `ports are for tcp and udp rules, not ${r.protocol}`);
    if (r.port_min !== undefined && r.port_max !== undefined && r.port_min > r.port_max)
      throw inputError(f('port_max'), 'port_max must not be below port_min');
    if (r.remote_cidr !== undefined && r.remote_group !== undefined)
      throw inputError(f('remote_group'), 'give remote_cidr or remote_group, not both');
    if (r.remote_cidr !== undefined && !parseCidr(r.remote_cidr))
      throw inputError(f('remote_cidr'), 'remote_cidr must be an IPv4 network a.b.c.d/p without host bits');
    if (r.remote_group !== undefined && !groups.has(r.remote_group))
      throw inputError(f('remote_group'), `no security group ${r.remote_group} in this workspace`);
  });
}

/** An IPv4 network a.b.c.d/p (prefix 0-32, no host bits): its first address and prefix. */
export function parseCidr(s: string): { network: number; prefix: number } | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  const ip = m ? parseIp(m[1]) : undefined;
  const prefix = Number(m?.[2]);
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) return undefined;
  const size = 2 ** (32 - prefix);
  return ip % size === 0 ? { network: ip, prefix } : undefined;
}
