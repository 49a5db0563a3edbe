// The console frame: a top bar (workspace switcher, live status, user), a side navigation that becomes a
// drawer at phone width, and the page.
import { useEffect, useState, type ReactNode } from 'react';
import { inv } from './api.ts';
import { useAuth } from './auth.tsx';
import { useResource } from './hooks.ts';
import { useRoom } from './room.tsx';
import { Link, navigate, usePath, wsPath } from './router.tsx';
import { Icon, Logo } from './ui.tsx';

export function useWorkspaces() {
  const { claims } = useAuth();
  // Keyed by the token's workspaces, so a new or deleted workspace reloads the list.
  const key = `ws:${claims?.username}:${Object.keys(claims?.workspaces ?? {})
    .sort()
    .join(',')}`;
  return useResource(
    () => inv.list<{ name: string }>('/workspaces/', 'workspaces').then((r) => r.map((w) => w.name)),
    key,
  );
}

function LiveStatus() {
  const { status, detail, workspace } = useRoom();
  if (!workspace) return null;
  const label = {
    live: 'Live',
    connecting: 'Connecting…',
    offline: 'Reconnecting…',
    refused: 'No live updates',
  }[status];
  return (
    <span
      className={`live live-${status}`}
      data-testid="room-status"
      data-status={status}
      title={detail ?? `Workspace room ${workspace}`}
    >
      <span className="live-dot" />
      <span className="live-label">{label}</span>
    </span>
  );
}

interface NavItem {
  to: string;
  label: string;
  icon: string;
}

export function Shell({ ws, children }: { ws?: string; children: ReactNode }) {
  const { claims, logout } = useAuth();
  const path = usePath();
  const [open, setOpen] = useState(false);
  const workspaces = useWorkspaces();
  useEffect(() => setOpen(false), [path]);

  const wsItems: NavItem[] = ws
    ? [
        { to: wsPath(ws, 'vms'), label: 'Virtual machines', icon: 'server' },
        { to: wsPath(ws, 'networks'), label: 'Networks', icon: 'network' },
        { to: wsPath(ws, 'routers'), label: 'Routers', icon: 'router' },
        { to: wsPath(ws, 'security-groups'), label: 'Security groups', icon: 'shield' },
        { to: wsPath(ws, 'members'), label: 'Members', icon: 'users' },
        { to: wsPath(ws, 'quotas'), label: 'Quotas', icon: 'grid' },
        { to: wsPath(ws, 'tasks'), label: 'Tasks', icon: 'tasks' },
        { to: wsPath(ws, 'activity'), label: 'Live activity', icon: 'activity' },
      ]
    : [];
  const catalogue: NavItem[] = [
    { to: '/catalogue/templates', label: 'Templates', icon: 'layers' },
    { to: '/catalogue/areas', label: 'Areas', icon: 'map' },
  ];
  const operator: NavItem[] = claims?.admin
    ? [
        { to: '/operator/hosts', label: 'Hosts', icon: 'server' },
        { to: '/operator/pools', label: 'Storage pools', icon: 'disk' },
      ]
    : [];
  const section = (title: string, items: NavItem[]) =>
    items.length ? (
      <div className="nav-section">
        <div className="nav-title">{title}</div>
        {items.map((i) => (
          <Link
            key={i.to}
            to={i.to}
            className={`nav-item${path === i.to || path.startsWith(`${i.to}/`) ? ' active' : ''}`}
          >
            <Icon name={i.icon} />
            <span>{i.label}</span>
          </Link>
        ))}
      </div>
    ) : null;

  const names = workspaces.data ?? [];
  return (
    <div className={`shell${open ? ' nav-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="icon-btn menu-btn"
          aria-label="Menu"
          onClick={() => setOpen((o) => !o)}
        >
          <Icon name={open ? 'close' : 'menu'} />
        </button>
        <Link to={ws ? wsPath(ws, 'vms') : '/workspaces'} className="brand">
          <Logo />
        </Link>
        <div className="ws-switch">
          <Icon name="grid" size={16} />
          <select
            aria-label="Workspace"
            value={ws ?? ''}
            onChange={(e) => navigate(e.target.value === '+' ? '/workspaces' : wsPath(e.target.value, 'vms'))}
          >
            {!ws ? <option value="">Choose a workspace</option> : null}
            {ws && !names.includes(ws) ? <option value={ws}>{ws}</option> : null}
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
            <option value="+">Manage workspaces…</option>
          </select>
        </div>
        <div className="topbar-right">
          <LiveStatus />
          <span className="user" title={claims?.email}>
            <span className="avatar">{claims?.username.slice(0, 1).toUpperCase()}</span>
            <span className="user-name">{claims?.username}</span>
            {claims?.admin ? <span className="badge">admin</span> : null}
          </span>
          <button
            type="button"
            className="icon-btn"
            aria-label="Log out"
            title="Log out"
            onClick={() => void logout().then(() => navigate('/login'))}
          >
            <Icon name="logout" />
          </button>
        </div>
      </header>
      <nav className="sidebar" aria-label="Main">
        {ws ? (
          <div className="nav-ws">
            <span className="muted">Workspace</span>
            <strong>{ws}</strong>
          </div>
        ) : null}
        {section('Workspace', wsItems)}
        {section('General', [
          { to: '/workspaces', label: 'All workspaces', icon: 'grid' },
          { to: '/keys', label: 'SSH keys', icon: 'lock' },
        ])}
        {section('Catalogue', catalogue)}
        {section('Operator', operator)}
      </nav>
      <div className="scrim" onClick={() => setOpen(false)} />
      <main className="content">{children}</main>
    </div>
  );
}
