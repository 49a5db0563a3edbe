// Entry points of the notification service: the factory, and a start from the parsed configuration.
import { inventoryAuthority } from '../lib/authority.ts';
import { ownServiceKey } from '../lib/secrets.ts';
import { createServiceTokenSource } from '../lib/servicetoken.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { createNotificationService, type NotificationService } from './service.ts';

export { createNotificationService, type NotificationOptions, type NotificationService } from './service.ts';

/**
 * Starts one instance as configured: NOTIFICATION_PORT on BIND, tokens checked against inventory (JWKS and
 * standings, read with the notification service's own token), Redis fan-out when REDIS is set.
 */
export async function startNotification(config: Config, log: Logger): Promise<NotificationService> {
  const token = createServiceTokenSource(
    config.INVENTORY_URL,
    'notification',
    ownServiceKey(config, 'notification'),
  );
  const auth = inventoryAuthority({ config, log, token });
  try {
    const s = await createNotificationService({
      port: config.NOTIFICATION_PORT,
      host: config.BIND,
      auth,
      redisUrl: config.REDIS,
      log,
    });
    return {
      ...s,
      close: async () => {
        await s.close();
        auth.close();
      },
    };
  } catch (e) {
    auth.close();
    throw e;
  }
}
