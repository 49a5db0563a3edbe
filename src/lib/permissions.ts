// A workspace member's permission flags (the book's names) and how tokens carry them: one top-level claim per
// workspace (book chapter 3). Free of imports: the dashboard bundles it too.
export const PERMISSIONS = [
  'user_can_add',
  'user_can_edit',
  'user_can_delete',
  'vm_can_add',
  'vm_can_edit',
  'vm_can_delete',
  'network_can_add',
  'network_can_edit',
  'network_can_delete',
  'router_can_add',
  'router_can_edit',
  'router_can_delete',
] as const;
export type Permission = (typeof PERMISSIONS)[number];
export type Permissions = Record<Permission, boolean>;

export const ALL_PERMISSIONS: Permissions = Object.fromEntries(
  PERMISSIONS.map((p) => [p, true]),
) as Permissions;
export const NO_PERMISSIONS: Permissions = Object.fromEntries(
  PERMISSIONS.map((p) => [p, false]),
) as Permissions;

export const SERVICE_CLAIM = 'kloudak_service';
export const ADMIN_CLAIM = 'kloudak_admin';

/** Claim names a workspace may not take, since workspaces are top-level keys of the token. */
export const RESERVED_CLAIM_NAMES = new Set([
  'username',
  'email',
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  SERVICE_CLAIM,
  ADMIN_CLAIM,
]);

/** The workspace claims of a token's payload: name -> flags (a flag is on only when it is `true`). */
export function workspaceClaims(payload: Record<string, unknown>): Record<string, Permissions> {
  // No prototype: a workspace named "constructor" or "__proto__" must not be found in every token.
  const workspaces: Record<string, Permissions> = Object.create(null) as Record<string, Permissions>;
  for (const [k, v] of Object.entries(payload)) {
    if (RESERVED_CLAIM_NAMES.has(k) || !v || typeof v !== 'object' || Array.isArray(v)) continue;
    const perms = { ...NO_PERMISSIONS };
    for (const p of PERMISSIONS) perms[p] = (v as Record<string, unknown>)[p] === true;
    workspaces[k] = perms;
  }
  return workspaces;
}
