// A workspace member's permission flags (the book's names). Free of imports: the dashboard bundles it too.
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
