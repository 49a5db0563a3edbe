// The controller's accepts (src/lib/contracts/accepts.ts): one call per request, its checks and writes in one
// transaction, journaled with the task id so the undo of the task is exact, harmless when nothing was written,
// and final (a write of an undone task is refused, even one still on the way when the undo ran).
import { Type, type Static } from 'typebox';
import type { Principal } from '../../lib/auth.ts';
import {
  ACCEPT_OPS,
  type AcceptAnswer,
  type AcceptBody,
  type AcceptOp,
} from '../../lib/contracts/accepts.ts';
import { checker } from '../../lib/contracts/validate.ts';
import { conflict, isAppError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { RecordTable } from '../repositories/accepts.ts';
import type { Repositories, Store } from '../repositories/index.ts';
import { ACCEPT_HANDLERS } from './accept-ops.ts';
import { requireNotDeleting, requireServiceWriter } from './access.ts';
import { isShareRefused, prepareShare, refusedShare, shareOf, type Limits, type Need } from './quotas.ts';
import type { Figures } from '../repositories/quotas.ts';

const Table = Type.Union([Type.Literal('vms'), Type.Literal('networks'), Type.Literal('routers')]);
/** A VM's fields an accept writes (a change of groups, a resize), as they were. */
export const VmValues = Type.Object({
  security_groups: Type.Optional(Type.Array(Type.String())),
  cpu: Type.Optional(Type.Integer()),
  ram: Type.Optional(Type.Number()),
});
export type VmValues = Static<typeof VmValues>;
/** How to undo one write: remove a record the task made, put a state back, or put a VM's fields back. */
export const UndoItem = Type.Union([
  Type.Object({ made: Table, id: Type.Integer() }),
  Type.Object({ table: Table, id: Type.Integer(), from: Type.String(), to: Type.String() }),
  Type.Object({ table: Type.Literal('vms'), id: Type.Integer(), values: VmValues }),
]);
export type UndoItem = Static<typeof UndoItem>;
const undoList = checker(Type.Array(UndoItem));

/** What a handler gets: the store (for what must run before the transaction) and the transaction itself. */
export interface AcceptContext {
  store: Store;
  workspaceId: number;
  task: string;
  /** The quotas and per-area ceilings a create is checked against (services/quotas.ts). */
  limits: Limits;
  /**
   * Runs fn in the accept's transaction; `wrote` records, right after a write, how to undo it; `share`, called
   * before the writes, names the share of the workspace's quotas they take (services/quotas.ts), taken when
   * the transaction commits. The journal row (the answer, the undo list, the share) commits with the writes.
   */
  transaction<T>(
    fn: (tx: Repositories, wrote: (u: UndoItem) => void, share: (need: Need) => Promise<void>) => Promise<T>,
  ): Promise<T>;
}
export type AcceptHandler<O extends AcceptOp> = (
  c: AcceptContext,
  b: AcceptBody<O>,
) => Promise<AcceptAnswer<O>>;
export type AcceptHandlers = { [O in AcceptOp]: AcceptHandler<O> };

/** Thrown inside the transaction when the task has a journal row already: rolls the writes back. */
class AlreadyJournaled extends Error {}

const answers = Object.fromEntries(Object.entries(ACCEPT_OPS).map(([op, o]) => [op, checker(o.answer)])) as {
  [O in AcceptOp]: ReturnType<typeof checker<(typeof ACCEPT_OPS)[O]['answer']>>;
};

export function acceptsService(
  store: Store,
  limits: Limits,
  log?: Logger,
  handlers: AcceptHandlers = ACCEPT_HANDLERS,
) {
  /** The answer a task's accept gave before (a retried call), or a 409 if the task was undone. */
  async function earlier<O extends AcceptOp>(task: string, workspaceId: number, op: O) {
    const row = await store.accepts.one(task);
    if (!row || row.workspace_id !== workspaceId) return undefined;
    if (row.undone) throw conflict('task', `task ${task} was undone; it writes nothing more`);
    if (row.op !== op) throw conflict('task', `task ${task} was accepted as ${row.op}, not ${op}`);
    const a = answers[op].check(row.answer);
    return a.ok ? (a.value as AcceptAnswer<O>) : undefined;
  }

  return {
    async put<O extends AcceptOp>(
      p: Principal,
      ws: string,
      task: string,
      op: O,
      body: AcceptBody<O>,
    ): Promise<AcceptAnswer<O>> {
      const m = await requireServiceWriter(store, p, ws);
      // Nothing new goes into a workspace being deleted (its teardown task runs).
      if (op.endsWith('-create')) requireNotDeleting(m, ws);
      const { workspaceId } = m;
      const c: AcceptContext = {
        store,
        workspaceId,
        task,
        limits,
        transaction: async (fn) => {
          const share: { taking?: { need: Need; limit: Figures } } = {};
          try {
            return await store.transaction(async (tx) => {
              const undo: UndoItem[] = [];
              const answer = await fn(
                tx,
                (u) => undo.push(u),
                async (need) => {
                  if (share.taking) throw new Error('one share per accept');
                  share.taking = { need, limit: await prepareShare(tx, limits, workspaceId) };
                },
              );
              const fresh = await tx.accepts.record({
                task,
                workspace_id: workspaceId,
                op,
                answer: JSON.stringify(answer),
                undo: JSON.stringify(undo),
                // Taken at the commit (a deferred trigger): the counter row is locked only while it runs.
                share: share.taking
                  ? JSON.stringify(shareOf(limits, share.taking.limit, share.taking.need))
                  : null,
              });
              if (!fresh) throw new AlreadyJournaled();
              return answer;
            });
          } catch (e) {
            const t = share.taking;
            if (t && isShareRefused(e)) throw await refusedShare(store, limits, t.limit, workspaceId, t.need);
            throw e;
          }
        },
      };
      const handler: AcceptHandler<O> = handlers[op];
      try {
        return await handler(c, body);
      } catch (e) {
        // A repeated call (the first one's answer was lost on the way) meets its own writes: a 409 on the
        // name, its own share of a quota, or the journal row. It answers what the first one did.
        if (
          e instanceof AlreadyJournaled ||
          (isAppError(e) && (e.kind === 'conflict' || e.field === 'quota'))
        ) {
          const before = await earlier(task, workspaceId, op);
          if (before) return before;
          if (e instanceof AlreadyJournaled) throw conflict('task', `task ${task} was undone`);
        }
        throw e;
      }
    },

    /** Undoes what the task's accept wrote (last first); answers how many writes it undid. */
    async undo(p: Principal, ws: string, task: string) {
      const { workspaceId } = await requireServiceWriter(store, p, ws);
      const undone = await store.transaction(async (tx) => {
        const recorded = await tx.accepts.markUndone(task, workspaceId);
        if (recorded === undefined) return 0;
        const items = undoList.check(recorded);
        if (!items.ok) throw new Error(`task ${task}: an undo list of an unknown form`);
        let n = 0;
        for (const u of [...items.value].reverse())
          n +=
            'made' in u
              ? await tx.accepts.removeMade(u.made, u.id, task)
              : 'values' in u
                ? await tx.accepts.restoreVm(u.id, u.values)
                : await tx.accepts.restoreState(u.table satisfies RecordTable, u.id, u.from, u.to);
        return n;
      });
      if (undone) log?.info({ task, undone }, 'accept undone');
      return { task, undone };
    },
  };
}
export type AcceptsService = ReturnType<typeof acceptsService>;
