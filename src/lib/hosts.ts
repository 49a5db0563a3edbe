// The hosts admins registered in inventory, as the automation services read them: fetched with a service
// token, cached for a few seconds, fetched again at once for an unknown name.
import { callJson, expectOk } from './httpclient.ts';

export interface HostRecord {
  name: string;
  address: string;
  libvirt_uri: string;
  area: string;
  cpus: number;
  memory: number;
  domain_type: string;
}

export interface HostDirectory {
  all(): Promise<HostRecord[]>;
  get(name: string): Promise<HostRecord | undefined>;
}

export function createHostDirectory(
  inventoryUrl: string,
  token: () => Promise<string>,
  ttlMs = 5000,
): HostDirectory {
  let cache: { at: number; hosts: HostRecord[] } | undefined;
  const load = async () => {
    const a = await callJson<{ hosts: HostRecord[] }>('GET', `${inventoryUrl}/hosts/?limit=1000`, {
      token: await token(),
      timeout: 10,
    });
    cache = { at: Date.now(), hosts: expectOk(a, 'inventory hosts').hosts };
    return cache.hosts;
  };
  const all = async () => (cache && Date.now() - cache.at < ttlMs ? cache.hosts : load());
  return {
    all,
    async get(name) {
      return (await all()).find((h) => h.name === name) ?? (await load()).find((h) => h.name === name);
    },
  };
}
