// Prometheus figures of the notification service, on the registry /metrics serves.
import * as prom from 'prom-client';

export interface NotificationMetrics {
  messages: prom.Counter<'origin'>;
  deliveries: prom.Counter;
  dropped: prom.Counter<'reason'>;
  rejected: prom.Counter<'code'>;
  publishErrors: prom.Counter;
}

export interface Census {
  members: number;
  senders: number;
  rooms: number;
}

export function createNotificationMetrics(
  registry: prom.Registry,
  census: () => Census,
): NotificationMetrics {
  const registers = [registry];
  // Gauges read the live maps at scrape time instead of being kept in step by every join and leave.
  new prom.Gauge({
    name: 'kloudak_notification_connections',
    help: 'Open websocket connections by kind (room members, send-only service links)',
    labelNames: ['kind'],
    registers,
    collect() {
      const c = census();
      this.set({ kind: 'member' }, c.members);
      this.set({ kind: 'sender' }, c.senders);
    },
  });
  new prom.Gauge({
    name: 'kloudak_notification_rooms',
    help: 'Workspace rooms with at least one member on this instance',
    registers,
    collect() {
      this.set(census().rooms);
    },
  });
  return {
    messages: new prom.Counter({
      name: 'kloudak_notification_messages_total',
      help: 'Messages sent to rooms, by origin (local sender, or another instance through redis)',
      labelNames: ['origin'],
      registers,
    }),
    deliveries: new prom.Counter({
      name: 'kloudak_notification_deliveries_total',
      help: 'Messages queued to members of this instance',
      registers,
    }),
    dropped: new prom.Counter({
      name: 'kloudak_notification_dropped_total',
      help: 'Members dropped, by reason (slow reader, missed pong, token revoked, access lost)',
      labelNames: ['reason'],
      registers,
    }),
    rejected: new prom.Counter({
      name: 'kloudak_notification_rejected_total',
      help: 'Connections refused or closed for a protocol breach, by close code',
      labelNames: ['code'],
      registers,
    }),
    publishErrors: new prom.Counter({
      name: 'kloudak_notification_publish_errors_total',
      help: 'Messages that could not be published to redis for the other instances',
      registers,
    }),
  };
}
