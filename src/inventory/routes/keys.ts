// The caller's SSH public keys (services/keys.ts): HTTP only.
import { Deleted, ErrorBody } from '../../lib/contracts/common.ts';
import { KeysQuery, NameParams, SshKey, SshKeyBody, SshKeyList } from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['keys'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function keyRoutes(app: App, s: Pick<InventoryServices, 'keys'>, who: Auth): void {
  app.get(
    '/keys/',
    { schema: { querystring: KeysQuery, response: { 200: SshKeyList, ...errors }, tags } },
    async (req) => ({ keys: await s.keys.list(await who(req), req.query.user) }),
  );
  app.post(
    '/keys/',
    { schema: { body: SshKeyBody, response: { 201: SshKey, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await s.keys.add(await who(req), req.body)),
  );
  app.delete(
    '/keys/:name/',
    { schema: { params: NameParams, response: { 200: Deleted, ...errors }, tags } },
    async (req) => s.keys.remove(await who(req), req.params.name),
  );
}
