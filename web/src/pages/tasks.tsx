// Tasks (the controller's record of every change: running, finished, with errors) and the live feed of the
// workspace room.
import { useState } from 'react';
import { ctl, enc, type RoomMessage, type Task } from '../api.ts';
import { useDebounced, useInterval, useResource } from '../hooks.ts';
import { useRoom, useRoomEvents } from '../room.tsx';
import { Button, Card, Empty, ErrorBanner, Loading, PageHeader, StatePill, Table, timeAgo } from '../ui.tsx';

const TABS = [
  { key: 'running', label: 'Running', path: 'running_tasks' },
  { key: 'finished', label: 'Finished', path: 'finished_tasks' },
  { key: 'all', label: 'All', path: 'tasks' },
] as const;

export function TasksPage({ ws }: { ws: string }) {
  const [tab, setTab] = useState<(typeof TABS)[number]['key']>('running');
  const [errorsOnly, setErrorsOnly] = useState(false);
  const path = TABS.find((t) => t.key === tab)!.path;
  const list = useResource(
    () => ctl.get<{ tasks: Task[] }>(`/${path}/${enc(ws)}/?limit=200`).then((r) => r.tasks),
    `tasks:${ws}:${path}`,
  );
  const room = useRoom();
  const reloadSoon = useDebounced(list.reload, 400);
  useRoomEvents((m) => {
    if (m.kind === 'resync' || m.kind === 'task') reloadSoon();
  });
  useInterval(list.reload, room.status === 'live' ? undefined : 5000);
  const rows = (list.data ?? []).filter((t) => !errorsOnly || t.error);

  return (
    <>
      <PageHeader
        title="Tasks"
        subtitle="Every change is a task: retried on failure, rolled back when retries run out."
        actions={<Button variant="ghost" icon="refresh" aria-label="Refresh" onClick={list.reload} />}
      />
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button
            key={t.key}
            type="button"
            role="tab"
            aria-selected={tab === t.key}
            className={`tab${tab === t.key ? ' active' : ''}`}
            onClick={() => setTab(t.key)}
          >
            {t.label}
          </button>
        ))}
        <label className="check-inline">
          <input type="checkbox" checked={errorsOnly} onChange={(e) => setErrorsOnly(e.target.checked)} />{' '}
          With errors only
        </label>
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <Card>
        {!list.data && list.loading ? (
          <Loading what="Loading tasks" />
        ) : (
          <Table
            columns={[
              {
                key: 'when',
                label: 'Started',
                render: (t) => <span title={t.created_at}>{timeAgo(t.created_at)}</span>,
              },
              {
                key: 'what',
                label: 'Change',
                render: (t) => (
                  <span>
                    <strong>{t.method}</strong> {t.type} <span className="tag">{t.object}</span>
                  </span>
                ),
              },
              { key: 'status', label: 'Status', render: (t) => <StatePill kind="task" state={t.status} /> },
              { key: 'stage', label: 'Stage', render: (t) => <code>{t.stage}</code> },
              {
                key: 'attempt',
                label: 'Attempt',
                render: (t) => `${t.attempt}${t.retries_left ? ` (${t.retries_left} left)` : ''}`,
              },
              { key: 'user', label: 'By', render: (t) => t.username },
              {
                key: 'error',
                label: 'Error',
                render: (t) =>
                  t.error ? <span className="error-text">{t.error}</span> : <span className="muted">—</span>,
              },
            ]}
            rows={rows}
            rowKey={(t) => t.task_id}
            rowProps={(t) => ({ 'data-testid': `task-${t.task_id}`, 'data-status': t.status })}
            empty={
              <Empty icon="tasks" title={tab === 'running' ? 'Nothing running' : 'No tasks'}>
                {tab === 'running' ? 'Changes in progress show here.' : undefined}
              </Empty>
            }
          />
        )}
      </Card>
    </>
  );
}

function describe(m: RoomMessage): string {
  if (m.kind !== 'task') return JSON.stringify(m);
  const verb =
    { POST: 'create', PUT: 'update', DELETE: 'delete', POWER: 'power', SNAPSHOT: 'snapshot' }[
      String(m.method)
    ] ?? String(m.method);
  return `${verb} ${m.type} ${m.object}`;
}

const STATUS_LABEL = {
  live: 'Connected',
  connecting: 'Connecting…',
  offline: 'Reconnecting…',
  refused: 'Refused',
};

export function ActivityPage({ ws }: { ws: string }) {
  const room = useRoom();
  return (
    <>
      <PageHeader title="Live activity" subtitle={`Messages of the ${ws} room, as they arrive.`} />
      <Card
        title={
          <span className={`live live-${room.status}`} data-status={room.status}>
            <span className="live-dot" /> {STATUS_LABEL[room.status]}
            {room.detail ? <span className="muted"> ({room.detail})</span> : null}
          </span>
        }
      >
        {room.feed.length === 0 ? (
          <Empty icon="activity" title="Waiting for activity">
            Create, change or delete something in this workspace and it shows here at once.
          </Empty>
        ) : (
          <ul className="feed" data-testid="feed">
            {room.feed.map((e, i) => (
              <li key={`${e.at}-${i}`} className="feed-item">
                <span className="feed-time">{new Date(e.at).toLocaleTimeString()}</span>
                {e.message.status ? <StatePill kind="task" state={String(e.message.status)} /> : null}
                <span className="feed-text">
                  <strong>{describe(e.message)}</strong>
                  {e.message.stage ? <code className="muted"> {e.message.stage}</code> : null}
                  {e.message.error ? <span className="error-text small">{e.message.error}</span> : null}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </>
  );
}
