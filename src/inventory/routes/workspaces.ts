// Workspaces and their members (services/workspaces.ts): HTTP only.
import { Deleted, ErrorBody, ListQuery } from '../../lib/contracts/common.ts';
import {
  Declined,
  Invited,
  Joined,
  Member,
  MemberBody,
  MyInvitationList,
  WorkspaceInvitationList,
  MemberList,
  MemberUpdate,
  QuotaBody,
  Workspace,
  WorkspaceBody,
  WorkspaceDetail,
  WorkspaceList,
  WorkspaceUpdate,
  WsNameParams,
  WorkspaceQuotas,
  WsParams,
} from '../../lib/contracts/inventory.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import { page } from '../services/access.ts';
import type { InventoryServices } from '../services/index.ts';

const tags = ['workspaces'];
const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function workspaceRoutes(
  app: App,
  s: Pick<InventoryServices, 'workspaces' | 'quotas'>,
  who: Auth,
): void {
  const w = s.workspaces;
  app.get(
    '/workspaces/',
    { schema: { querystring: ListQuery, response: { 200: WorkspaceList, ...errors }, tags } },
    async (req) => ({ workspaces: await w.list(await who(req), page(req.query)) }),
  );
  app.post(
    '/workspaces/',
    { schema: { body: WorkspaceBody, response: { 201: Workspace, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await w.create(await who(req), req.body.name)),
  );
  app.get(
    '/workspaces/:ws/',
    { schema: { params: WsParams, response: { 200: WorkspaceDetail, ...errors }, tags } },
    async (req) => w.get(await who(req), req.params.ws),
  );
  app.put(
    '/workspaces/:ws/',
    {
      schema: {
        params: WsParams,
        body: WorkspaceUpdate,
        response: { 200: WorkspaceDetail, ...errors },
        tags,
      },
    },
    async (req) => w.update(await who(req), req.params.ws, req.body),
  );
  app.delete(
    '/workspaces/:ws/',
    { schema: { params: WsParams, response: { 200: Deleted, ...errors }, tags } },
    async (req) => w.remove(await who(req), req.params.ws),
  );
  app.get(
    '/workspaces/:ws/quotas/',
    { schema: { params: WsParams, response: { 200: WorkspaceQuotas, ...errors }, tags } },
    async (req) => s.quotas.get(await who(req), req.params.ws),
  );
  app.put(
    '/workspaces/:ws/quotas/',
    { schema: { params: WsParams, body: QuotaBody, response: { 200: WorkspaceQuotas, ...errors }, tags } },
    async (req) => s.quotas.set(await who(req), req.params.ws, req.body),
  );

  app.get(
    '/:ws/users/',
    { schema: { params: WsParams, response: { 200: MemberList, ...errors }, tags } },
    async (req) => ({ users: await w.members(await who(req), req.params.ws) }),
  );
  // Adding a member is inviting it (issue 14.6): 202, the same whether or not such a user exists.
  app.post(
    '/:ws/users/',
    { schema: { params: WsParams, body: MemberBody, response: { 202: Invited, ...errors }, tags } },
    async (req, reply) => reply.status(202).send(await w.invite(await who(req), req.params.ws, req.body)),
  );
  app.get(
    '/:ws/invitations/',
    { schema: { params: WsParams, response: { 200: WorkspaceInvitationList, ...errors }, tags } },
    async (req) => ({ invitations: await w.invitations(await who(req), req.params.ws) }),
  );
  app.delete(
    '/:ws/invitations/:name/',
    { schema: { params: WsNameParams, response: { 200: Deleted, ...errors }, tags } },
    async (req) => w.cancelInvitation(await who(req), req.params.ws, req.params.name),
  );
  app.get(
    '/invitations/',
    { schema: { response: { 200: MyInvitationList, ...errors }, tags } },
    async (req) => ({ invitations: await w.myInvitations(await who(req)) }),
  );
  app.post(
    '/invitations/:ws/',
    { schema: { params: WsParams, response: { 201: Joined, ...errors }, tags } },
    async (req, reply) => reply.status(201).send(await w.accept(await who(req), req.params.ws)),
  );
  app.delete(
    '/invitations/:ws/',
    { schema: { params: WsParams, response: { 200: Declined, ...errors }, tags } },
    async (req) => w.decline(await who(req), req.params.ws),
  );
  app.get(
    '/:ws/users/:name/',
    { schema: { params: WsNameParams, response: { 200: Member, ...errors }, tags } },
    async (req) => w.member(await who(req), req.params.ws, req.params.name),
  );
  app.put(
    '/:ws/users/:name/',
    { schema: { params: WsNameParams, body: MemberUpdate, response: { 200: Member, ...errors }, tags } },
    async (req) => w.updateMember(await who(req), req.params.ws, req.params.name, req.body),
  );
  app.delete(
    '/:ws/users/:name/',
    { schema: { params: WsNameParams, response: { 200: Deleted, ...errors }, tags } },
    async (req) => w.removeMember(await who(req), req.params.ws, req.params.name),
  );
}
