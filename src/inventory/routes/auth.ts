// What services read to check requests against current state (services/auth.ts), and the caller's account.
import { ErrorBody } from '../../lib/contracts/common.ts';
import { Account, AuthChanges, ChangesQuery, Standing, UidParams } from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['identity'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function authRoutes(app: App, s: Pick<InventoryServices, 'auth'>, who: Auth): void {
  app.get(
    '/auth/standing/:uid/',
    { schema: { params: UidParams, response: { 200: Standing, ...errors }, tags } },
    async (req) => s.auth.standingFor(await who(req), Number(req.params.uid)),
  );
  app.get(
    '/auth/changes/',
    { schema: { querystring: ChangesQuery, response: { 200: AuthChanges, ...errors }, tags } },
    async (req) =>
      s.auth.changesFor(await who(req), req.query.after === undefined ? undefined : Number(req.query.after)),
  );
  app.get('/account/', { schema: { response: { 200: Account, ...errors }, tags } }, async (req) =>
    s.auth.account(await who(req)),
  );
}
