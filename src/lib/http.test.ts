import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { createApp } from './http.ts';
import { createLogger } from './log.ts';

void test('a request body is closed unless its schema opens it: an unknown key is a 400 naming it', async () => {
  const app = await createApp({ service: 'test', log: createLogger('test', 'silent'), description: 'test' });
  const seen: unknown[] = [];
  const Body = Type.Object({ state: Type.Optional(Type.String()) });
  app.put('/closed/', { schema: { body: Body } }, async (req) => (seen.push(req.body), { ok: true }));
  app.put(
    '/open/',
    { schema: { body: Type.Object({}, { additionalProperties: true }) } },
    async (req) => (seen.push(req.body), { ok: true }),
  );
  const put = (url: string, payload: unknown) =>
    app.inject({ method: 'PUT', url, payload: payload as object });
  try {
    const extra = await put('/closed/', { state: 'U', id: 7 });
    assert.equal(extra.statusCode, 400);
    assert.deepEqual(extra.json(), { error: 'id is not a known field', field: 'id' });
    const empty = await put('/closed/', { '': true });
    assert.deepEqual([empty.statusCode, empty.json<{ field: string }>().field], [400, 'body']);
    assert.equal((await put('/closed/', { state: 'U' })).statusCode, 200);
    assert.equal(
      (await put('/open/', { anything: 1 })).statusCode,
      200,
      'a schema that opens itself stays open',
    );
    assert.deepEqual(seen, [{ state: 'U' }, { anything: 1 }], 'refused bodies never reached a handler');
    // The OpenAPI document says so too.
    type Doc = {
      paths: Record<string, { put: { requestBody: { content: Record<string, { schema: object }> } } }>;
    };
    const doc = app.swagger() as unknown as Doc;
    const schema = doc.paths['/closed/'].put.requestBody.content['application/json'].schema;
    assert.equal((schema as { additionalProperties?: unknown }).additionalProperties, false);
  } finally {
    await app.close();
  }
});
