// Entry points of the notification service: the factory, and a start from the parsed configuration.
import { createJwksVerifier } from '../lib/auth.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { createNotificationService, type NotificationService } from './service.ts';

export { createNotificationService, type NotificationOptions, type NotificationService } from './service.ts';

/** Starts one instance as configured: NOTIFICATION_PORT on BIND, inventory's JWKS, Redis fan-out when REDIS is set. */
export function startNotification(config: Config, log: Logger): Promise<NotificationService> {
  return createNotificationService({
    port: config.NOTIFICATION_PORT,
    host: config.BIND,
    verifier: createJwksVerifier(config.INVENTORY_URL),
    redisUrl: config.REDIS,
    log,
  });
}
