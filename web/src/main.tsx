// The Kloudak dashboard: routes, the signed-in frame and the workspace room around workspace pages.
import { lazy, StrictMode, Suspense, useEffect, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { AuthProvider, useAuth } from './auth.tsx';
import { Shell, useWorkspaces } from './layout.tsx';
import { RoomProvider } from './room.tsx';
import { match, navigate, usePath, wsPath } from './router.tsx';
import { HOST_TASKS } from './api.ts';
import { Empty, Loading, Toasts } from './ui.tsx';
import { LoginPage, SignupPage } from './pages/auth.tsx';
import { MembersPage } from './pages/members.tsx';
import { QuotasPage } from './pages/quotas.tsx';
import { NetworksPage, RouterPage, RoutersPage } from './pages/networks.tsx';
import { CataloguePage, KINDS } from './pages/operator.tsx';
import { HostsPage } from './pages/hosts.tsx';
import { SecurityGroupsPage } from './pages/secgroups.tsx';
import { ActivityPage, TasksPage } from './pages/tasks.tsx';
import { VmPage, VmsPage } from './pages/vms.tsx';
import { WorkspacesPage } from './pages/workspaces.tsx';
import { KeysPage } from './pages/keys.tsx';
import './styles.css';

// xterm.js is most of a console page's weight: it loads when the page is opened.
const ConsolePage = lazy(() => import('./pages/console.tsx').then((m) => ({ default: m.ConsolePage })));

const WS_PAGES: [string, (p: Record<string, string>) => ReactNode][] = [
  ['/w/:ws/vms', (p) => <VmsPage ws={p.ws} />],
  ['/w/:ws/vms/:vm', (p) => <VmPage ws={p.ws} name={p.vm} />],
  [
    '/w/:ws/vms/:vm/console',
    (p) => (
      <Suspense fallback={<Loading what="Loading the console" />}>
        <ConsolePage ws={p.ws} name={p.vm} />
      </Suspense>
    ),
  ],
  ['/w/:ws/networks', (p) => <NetworksPage ws={p.ws} />],
  ['/w/:ws/routers', (p) => <RoutersPage ws={p.ws} />],
  ['/w/:ws/routers/:router', (p) => <RouterPage ws={p.ws} name={p.router} />],
  ['/w/:ws/security-groups', (p) => <SecurityGroupsPage ws={p.ws} />],
  ['/w/:ws/members', (p) => <MembersPage ws={p.ws} />],
  ['/w/:ws/quotas', (p) => <QuotasPage ws={p.ws} />],
  ['/w/:ws/tasks', (p) => <TasksPage ws={p.ws} />],
  ['/w/:ws/activity', (p) => <ActivityPage ws={p.ws} />],
];

/** Where "/" goes: the last workspace used, else the first one, else the workspace page. */
function Home() {
  const list = useWorkspaces();
  useEffect(() => {
    if (!list.data) return;
    const last = localStorage.getItem('kloudak.workspace');
    const ws = last && list.data.includes(last) ? last : list.data[0];
    navigate(ws ? wsPath(ws, 'vms') : '/workspaces', true);
  }, [list.data]);
  return <Loading />;
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}

function Routes() {
  const auth = useAuth();
  const path = usePath();
  const open = path === '/login' || path === '/signup';

  useEffect(() => {
    if (auth.status === 'out' && !open) navigate('/login', true);
    if (auth.status === 'in' && open) navigate('/', true);
  }, [auth.status, open]);

  if (auth.status === 'loading')
    return (
      <div className="boot">
        <Loading what="Starting" />
      </div>
    );
  if (path === '/signup') return <SignupPage />;
  if (path === '/login' || auth.status === 'out') return <LoginPage />;

  for (const [pattern, render] of WS_PAGES) {
    const p = match(pattern, path);
    if (p) {
      localStorage.setItem('kloudak.workspace', p.ws);
      return (
        <RoomProvider key={p.ws} workspace={p.ws}>
          <Shell ws={p.ws}>{render(p)}</Shell>
        </RoomProvider>
      );
    }
  }
  const ws = match('/w/:ws', path);
  if (ws) return <Redirect to={wsPath(ws.ws, 'vms')} />;
  // The hosts page hears the hosts' room (drains, restores, VM moves of every workspace; admins only).
  if (path === '/operator/hosts')
    return (
      <RoomProvider key={HOST_TASKS} workspace={HOST_TASKS}>
        <Shell>
          <HostsPage />
        </Shell>
      </RoomProvider>
    );
  const cat = match('/catalogue/:kind', path) ?? match('/operator/:kind', path);
  if (cat && KINDS[cat.kind])
    return (
      <Shell>
        <CataloguePage key={cat.kind} kind={KINDS[cat.kind]} />
      </Shell>
    );
  if (path === '/workspaces')
    return (
      <Shell>
        <WorkspacesPage />
      </Shell>
    );
  if (path === '/keys')
    return (
      <Shell>
        <KeysPage />
      </Shell>
    );
  if (path === '/' || path === '') return <Home />;
  return (
    <Shell>
      <Empty title="Page not found">There is nothing at {path}.</Empty>
    </Shell>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AuthProvider>
      <Toasts>
        <Routes />
      </Toasts>
    </AuthProvider>
  </StrictMode>,
);
