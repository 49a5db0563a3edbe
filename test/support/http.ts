// Outbound JSON calls for tests: src/lib/httpclient.ts's callJson with answers typed loosely by default, so
// a test reads whatever field it asserts on (the product code types every answer from the contracts).
import { callJson as call, type Answer, type CallOptions } from '../../src/lib/httpclient.ts';

export { expectOk } from '../../src/lib/httpclient.ts';

export const callJson = <T = any>(method: string, url: string, opts?: CallOptions): Promise<Answer<T>> =>
  call<T>(method, url, opts);
