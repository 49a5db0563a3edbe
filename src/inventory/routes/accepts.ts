// The controller's accepts (services/accepts.ts): HTTP only. One PUT route per op, each with its own body and
// answer (src/lib/contracts/accepts.ts), and the undo of a task.
import type { TSchema } from 'typebox';
import {
  ACCEPT_OP_NAMES,
  ACCEPT_OPS,
  AcceptParams,
  AcceptUndone,
  type AcceptBody,
  type AcceptOp,
} from '../../lib/contracts/accepts.ts';
import { ErrorBody } from '../../lib/contracts/common.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['accepts'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function acceptRoutes(app: App, s: Pick<InventoryServices, 'accepts'>, who: Auth): void {
  // Inside, the schemas are plain TSchema (Fastify's type provider cannot follow a generic one); the body,
  // which Fastify checked against the op's schema, is the op's.
  const route = <O extends AcceptOp>(op: O) => {
    const [body, answer]: TSchema[] = [ACCEPT_OPS[op].body, ACCEPT_OPS[op].answer];
    app.put(
      `/:ws/accepts/${op}/:task/`,
      { schema: { params: AcceptParams, body, response: { 200: answer, ...errors }, tags } },
      async (req) =>
        s.accepts.put(await who(req), req.params.ws, req.params.task, op, req.body as AcceptBody<O>),
    );
  };
  for (const op of ACCEPT_OP_NAMES) route(op);
  app.delete(
    '/:ws/accepts/:task/',
    { schema: { params: AcceptParams, response: { 200: AcceptUndone, ...errors }, tags } },
    async (req) => s.accepts.undo(await who(req), req.params.ws, req.params.task),
  );
}
