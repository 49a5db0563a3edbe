// Log in and sign up (book chapter 6: inventory is the identity provider).
import { useState, type ReactNode } from 'react';
import { useAuth } from '../auth.tsx';
import { Link, navigate } from '../router.tsx';
import { Button, Form, FormError, Logo, TextField, useAction } from '../ui.tsx';

function AuthFrame({ title, children, footer }: { title: string; children: ReactNode; footer: ReactNode }) {
  return (
    <div className="auth">
      <div className="auth-side">
        <Logo />
        <h2>Your private cloud on Linux and KVM.</h2>
        <ul>
          <li>Virtual machines from templates, placed and restarted for you</li>
          <li>Isolated networks and routers per workspace</li>
          <li>Live progress of every change</li>
        </ul>
      </div>
      <div className="auth-main">
        <div className="auth-card">
          <h1>{title}</h1>
          {children}
          <div className="auth-foot">{footer}</div>
        </div>
      </div>
    </div>
  );
}

export function LoginPage() {
  const { login } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const act = useAction(async () => {
    await login(username, password);
    navigate('/', true);
  });
  return (
    <AuthFrame
      title="Log in"
      footer={
        <>
          New here? <Link to="/signup">Create an account</Link>
        </>
      }
    >
      <Form onSubmit={() => void act.run()}>
        <FormError error={act.error} fields={['username', 'password']} />
        <TextField
          label="Username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={act.error}
          autoFocus
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={act.error}
        />
        <Button type="submit" variant="primary" busy={act.busy} className="btn-block">
          Log in
        </Button>
      </Form>
    </AuthFrame>
  );
}

export function SignupPage() {
  const { signup } = useAuth();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const act = useAction(async () => {
    await signup(username, email, password);
    navigate('/workspaces', true);
  });
  return (
    <AuthFrame
      title="Create your account"
      footer={
        <>
          Already have one? <Link to="/login">Log in</Link>
        </>
      }
    >
      <Form onSubmit={() => void act.run()}>
        <FormError error={act.error} fields={['username', 'email', 'password']} />
        <TextField
          label="Username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={act.error}
          hint="Letters, digits, . _ -"
          autoFocus
        />
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={act.error}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={act.error}
          hint="At least 8 characters"
        />
        <Button type="submit" variant="primary" busy={act.busy} className="btn-block">
          Sign up
        </Button>
      </Form>
    </AuthFrame>
  );
}
