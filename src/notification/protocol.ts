// Server side of the notification wire protocol; the protocol itself (close codes, paths, frames) is
// described and defined in src/lib/notify.ts, next to the client every other service uses.
import { isName } from '../lib/names.ts';
import { SEND_ONLY_PARAM } from '../lib/notify.ts';

export { CLOSE, SEND_ONLY_PARAM, roomPath } from '../lib/notify.ts';

export interface RoomPath {
  workspace: string;
  token: string;
  sendOnly: boolean;
}

const TOKEN_RE = /^[A-Za-z0-9_.-]{1,8192}$/;

/** Parses /<workspace>/<token>[/][?send_only=1]; undefined for any other path. */
export function parseRoomPath(rawUrl: string): RoomPath | undefined {
  let url: URL;
  try {
    url = new URL(rawUrl, 'http://notification.invalid');
  } catch {
    return undefined;
  }
  const parts = url.pathname.split('/');
  if (parts[0] !== '' || (parts.length === 4 ? parts[3] !== '' : parts.length !== 3)) return undefined;
  let workspace: string;
  let token: string;
  try {
    workspace = decodeURIComponent(parts[1]);
    token = decodeURIComponent(parts[2]);
  } catch {
    return undefined;
  }
  if (!isName(workspace) || !TOKEN_RE.test(token)) return undefined;
  const flag = url.searchParams.get(SEND_ONLY_PARAM);
  return { workspace, token, sendOnly: flag === '1' || flag === 'true' };
}
