// How a service gets its superuser token: POST /service_token/ to inventory with the shared secret; cached
// and renewed a minute before it expires.
import { decodeJwt } from 'jose';
import { callJson, expectOk } from './httpclient.ts';

import type { ServiceName } from './rights.ts';
export { SERVICES, type ServiceName } from './rights.ts';

export function createServiceTokenSource(
  inventoryUrl: string,
  service: ServiceName,
  secret: string,
): () => Promise<string> {
  let token = '';
  let renewAt = 0;
  let pending: Promise<string> | undefined;
  const fetchToken = async () => {
    const a = await callJson<{ token: string }>('POST', `${inventoryUrl}/service_token/`, {
      body: { service, secret },
      retries: 5,
      retryWait: 0.5,
    });
    const { token: t } = expectOk(a, 'service token');
    const exp = decodeJwt(t).exp ?? 0;
    token = t;
    renewAt = (exp - 60) * 1000;
    return t;
  };
  return async () => {
    if (token && Date.now() < renewAt) return token;
    pending ??= fetchToken().finally(() => (pending = undefined));
    return pending;
  };
}
