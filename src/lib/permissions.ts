// A workspace member's permission flags (the book's names) and the claims that mark special tokens. Free of
// imports: the dashboard bundles it too.
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

/**
 * Claim names a workspace or user may not take (the book put workspaces at the top level of the token; tokens
 * no longer carry them, but the names stay refused so that old readers are never confused).
 */
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
