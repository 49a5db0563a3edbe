// A VM's serial console (issue 15): a websocket on the controller at /console/<ws>/<vm>/, relayed to compute's
// console bridge at the same path (service tokens only), which attaches to the domain's serial device on its
// host. Frames are raw bytes both ways (binary; text frames are taken as UTF-8 input). The recent output as
// text: GET /console/<ws>/<vm>/log/ on both.
import { Type, type Static } from 'typebox';
import { Name } from './common.ts';

export const ConsoleParams = Type.Object({ ws: Name('workspace'), vm: Name('vm') });
export const ConsoleLogQuery = Type.Object({
  bytes: Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,7}$',
      description: 'at most this many bytes of the end (default 65536, at most 1048576)',
    }),
  ),
});
/** The answer of GET .../log/: the end of the console's log file, as text. */
export const ConsoleLog = Type.String({ description: 'the recent console output (text/plain)' });

export { CONSOLE_CLOSE, CONSOLE_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../console-protocol.ts';

export const DEFAULT_LOG_BYTES = 65536;
export const MAX_LOG_BYTES = 1 << 20;

export type ConsoleParams = Static<typeof ConsoleParams>;
