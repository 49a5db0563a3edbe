// Security group records (services/secgroups.ts): HTTP only.
import { Deleted, ErrorBody, ListQuery } from '../../lib/contracts/common.ts';
import { TaskQuery, WsNameParams, WsParams } from '../../lib/contracts/inventory.ts';
import {
  SecurityGroup,
  SecurityGroupBody,
  SecurityGroupList,
  SecurityGroupUpdate,
} from '../../lib/contracts/secgroups.ts';
import type { App } from '../../lib/http.ts';
import type { Auth } from '../service.ts';
import { page } from '../services/access.ts';
import type { InventoryServices } from '../services/index.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export function securityGroupRoutes(app: App, s: Pick<InventoryServices, 'securityGroups'>, who: Auth) {
  const g = s.securityGroups;
  const tags = ['security groups'];
  app.get(
    '/:ws/security_groups/',
    {
      schema: {
        params: WsParams,
        querystring: ListQuery,
        response: { 200: SecurityGroupList, ...errors },
        tags,
      },
    },
    async (req) => ({ security_groups: await g.list(await who(req), req.params.ws, page(req.query)) }),
  );
  app.get(
    '/:ws/security_groups/:name/',
    { schema: { params: WsNameParams, response: { 200: SecurityGroup, ...errors }, tags } },
    async (req) => g.get(await who(req), req.params.ws, req.params.name),
  );
  app.post(
    '/:ws/security_groups/',
    {
      schema: {
        params: WsParams,
        body: SecurityGroupBody,
        response: { 201: SecurityGroup, ...errors },
        tags,
      },
    },
    async (req, reply) => reply.status(201).send(await g.create(await who(req), req.params.ws, req.body)),
  );
  app.put(
    '/:ws/security_groups/:name/',
    {
      schema: {
        params: WsNameParams,
        body: SecurityGroupUpdate,
        response: { 200: SecurityGroup, ...errors },
        tags,
      },
    },
    async (req) => g.update(await who(req), req.params.ws, req.params.name, req.body),
  );
  app.delete(
    '/:ws/security_groups/:name/',
    { schema: { params: WsNameParams, querystring: TaskQuery, response: { 200: Deleted, ...errors }, tags } },
    async (req) => g.remove(await who(req), req.params.ws, req.params.name, req.query.task),
  );
}
