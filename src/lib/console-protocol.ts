// The console websocket's protocol words (issue 15). Free of imports: the dashboard and the CLI bundle it too.

/** The websocket subprotocol the server selects. */
export const CONSOLE_PROTOCOL = 'kloudak-console';
/** A browser cannot set headers on a websocket: it offers its token as a second subprotocol, `<prefix><token>`,
 * which the server never echoes (it selects CONSOLE_PROTOCOL). */
export const TOKEN_PROTOCOL_PREFIX = 'kloudak-token.';
/** Close codes: the console ended (the VM stopped, the host went away), or the relay failed. */
export const CONSOLE_CLOSE = { ended: 4000, unavailable: 4503, goingAway: 1001 } as const;
/** Ctrl-]: leaves a console (the CLI); never sent to the guest. */
export const CONSOLE_ESCAPE = 0x1d;
