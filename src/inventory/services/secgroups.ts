// Security group records (issue 17): members read them, only services write them (users go through the
// controller). A group that VMs belong to, or that another group's rules name, cannot go (409 naming them).
import type { Principal } from '../../lib/auth.ts';
import {
  checkRules,
  type SecurityGroupBody,
  type SecurityGroupUpdate,
} from '../../lib/contracts/secgroups.ts';
import { isUniqueViolation } from '../../lib/db.ts';
import { conflict, inputError, notFound } from '../../lib/errors.ts';
import type { Page, Store } from '../repositories/index.ts';
import { membership, requireServiceWriter } from './access.ts';

export function securityGroupsService(store: Store) {
  const group = async (workspaceId: number, name: string) => {
    const g = await store.securityGroups.one(workspaceId, name);
    if (!g) throw notFound('name', `no security group ${name}`);
    return g;
  };
  return {
    async list(p: Principal, ws: string, page: Page) {
      return store.securityGroups.list((await membership(store, p, ws)).workspaceId, page);
    },
    async get(p: Principal, ws: string, name: string) {
      return group((await membership(store, p, ws)).workspaceId, name);
    },
    async create(p: Principal, ws: string, b: SecurityGroupBody) {
      const m = await requireServiceWriter(store, p, ws);
      const names = await store.securityGroups.names(m.workspaceId);
      checkRules(b.rules, new Set([...names, b.name]));
      await store.securityGroups
        .insert({
          workspace_id: m.workspaceId,
          name: b.name,
          description: b.description ?? '',
          rules: b.rules,
          task: b.task ?? null,
        })
        .catch((e: unknown) => {
          if (isUniqueViolation(e)) throw conflict('name', `security group ${b.name} exists`);
          throw e;
        });
      return group(m.workspaceId, b.name);
    },
    async update(p: Principal, ws: string, name: string, b: SecurityGroupUpdate) {
      const m = await requireServiceWriter(store, p, ws);
      if (b.rules) checkRules(b.rules, await store.securityGroups.names(m.workspaceId));
      if (b.rules === undefined && b.description === undefined) throw inputError('body', 'nothing to change');
      if (!(await store.securityGroups.update(m.workspaceId, name, b)))
        throw notFound('name', `no security group ${name}`);
      return group(m.workspaceId, name);
    },
    /** With `task`, only a record that task created (the undo of an interrupted accept). */
    async remove(p: Principal, ws: string, name: string, task?: string) {
      const m = await requireServiceWriter(store, p, ws);
      const users = await store.securityGroups.usersOf(m.workspaceId, name);
      if (users.length) throw conflict('name', `security group ${name} is used by VMs ${users.join(', ')}`);
      const refs = await store.securityGroups.referrersOf(m.workspaceId, name);
      if (refs.length)
        throw conflict('name', `security group ${name} is named by the rules of ${refs.join(', ')}`);
      if (!(await store.securityGroups.remove(m.workspaceId, name, task)))
        throw notFound('name', `no security group ${name}`);
      return { name, deleted: true as const };
    },
  };
}
