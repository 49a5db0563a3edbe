// Building blocks of every page: buttons, fields that show the API's error next to the field it names,
// drawers, confirmations, tables that turn into cards at phone width, state pills, toasts, icons.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useId,
  useRef,
  useState,
  type ButtonHTMLAttributes,
  type FormEvent,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
} from 'react';
import { asApiError, type ApiError } from './api.ts';

// ---------- icons (inline SVG, 20px, stroke) ----------
const PATHS: Record<string, string> = {
  server: 'M4 5h16v5H4zM4 14h16v5H4zM8 7.5h.01M8 16.5h.01',
  network: 'M12 3v6M12 15v6M5 12h14M5 9v6M19 9v6M9 3h6M9 21h6',
  router: 'M4 14h16v5H4zM8 16.5h.01M12 16.5h.01M7 10a7 7 0 0 1 10 0M9.5 12a3.5 3.5 0 0 1 5 0',
  users: 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM2 21a7 7 0 0 1 14 0M17 11a3 3 0 1 0 0-6M22 21a6 6 0 0 0-4-5.7',
  tasks: 'M9 6h11M9 12h11M9 18h11M4 6l1 1 2-2M4 12l1 1 2-2M4 18l1 1 2-2',
  activity: 'M3 12h4l3-8 4 16 3-8h4',
  grid: 'M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z',
  layers: 'M12 3 2 8l10 5 10-5-10-5zM2 13l10 5 10-5M2 18l10 5 10-5',
  map: 'M9 4 3 6v14l6-2 6 2 6-2V4l-6 2-6-2zM9 4v14M15 6v14',
  disk: 'M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3',
  plus: 'M12 5v14M5 12h14',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  edit: 'M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  menu: 'M4 6h16M4 12h16M4 18h16',
  close: 'M6 6l12 12M18 6 6 18',
  chevron: 'M9 6l6 6-6 6',
  refresh: 'M20 11a8 8 0 0 0-14.3-4.9L4 8M4 4v4h4M4 13a8 8 0 0 0 14.3 4.9L20 16M20 20v-4h-4',
  lock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4',
  cloud: 'M7 19h10.5a4.5 4.5 0 0 0 .5-8.97A6.5 6.5 0 0 0 5.4 11.5 3.8 3.8 0 0 0 7 19z',
  alert: 'M12 3 2 21h20L12 3zM12 10v5M12 18h.01',
  check: 'M5 12l5 5L19 7',
  power: 'M12 3v9M7.8 6.2a7 7 0 1 0 8.4 0',
  play: 'M7 4l13 8-13 8V4z',
  stop: 'M6 6h12v12H6z',
  terminal: 'M3 5h18v14H3zM7 9l3 3-3 3M12 15h5',
  resize: 'M4 14v6h6M20 10V4h-6M4 20l7-7M20 4l-7 7',
  shield: 'M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6l8-3z',
  move: 'M5 12h14M15 8l4 4-4 4M9 8l-4 4 4 4',
};

export function Icon({ name, size = 18 }: { name: string; size?: number }) {
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.8"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
    >
      <path d={PATHS[name] ?? ''} />
    </svg>
  );
}

export function Logo() {
  return (
    <span className="logo">
      <svg width="26" height="26" viewBox="0 0 32 32" aria-hidden="true">
        <rect width="32" height="32" rx="8" fill="#6366f1" />
        <path
          d="M10 22.5h12.2a4.8 4.8 0 0 0 .6-9.56A6.5 6.5 0 0 0 10.3 14.6 4 4 0 0 0 10 22.5z"
          fill="#fff"
        />
      </svg>
      <span>Kloudak</span>
    </span>
  );
}

// ---------- buttons ----------
type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: 'primary' | 'secondary' | 'danger' | 'ghost';
  icon?: string;
  busy?: boolean;
  /** Why the button is disabled (the missing permission); shown as its tooltip. */
  deniedBy?: string | false;
};

export function Button({
  variant = 'secondary',
  icon,
  busy,
  deniedBy,
  children,
  disabled,
  title,
  className,
  ...rest
}: ButtonProps) {
  const denied = Boolean(deniedBy);
  return (
    <button
      type="button"
      className={`btn btn-${variant}${className ? ` ${className}` : ''}`}
      disabled={disabled || denied || busy}
      title={denied ? `Not allowed: you need ${deniedBy}` : title}
      aria-busy={busy || undefined}
      data-denied={denied || undefined}
      {...rest}
    >
      {busy ? <span className="spinner" aria-hidden="true" /> : icon ? <Icon name={icon} size={16} /> : null}
      {children}
      {denied ? <Icon name="lock" size={13} /> : null}
    </button>
  );
}

// ---------- forms ----------
/** The API's message, with schema jargon (a name's regular expression) put in words. */
export function friendly(message: string): string {
  const m = /^(\S+) must match pattern "(.*)"$/.exec(message);
  if (!m) return message;
  const what = m[1].split('.').pop();
  return m[2].includes('A-Za-z0-9_.-')
    ? `${what} may only hold letters, digits, dots, dashes and underscores (1-64)`
    : `${what} is not in the expected format`;
}

/** Whether an API error names this field (also update_dict.<name> and <name>.<index>). */
export function errorFor(err: ApiError | undefined, name: string): string | undefined {
  const f = err?.field;
  if (!f) return undefined;
  if (
    f === name ||
    f === `update_dict.${name}` ||
    f.startsWith(`${name}.`) ||
    f.startsWith(`update_dict.${name}.`)
  )
    return friendly(err.message);
  return undefined;
}

export function Field({
  label,
  name,
  error,
  hint,
  children,
}: {
  label: string;
  name: string;
  error?: ApiError;
  hint?: ReactNode;
  children: (props: {
    id: string;
    name: string;
    'aria-invalid'?: boolean;
    'aria-describedby'?: string;
  }) => ReactNode;
}) {
  const id = useId();
  const msg = errorFor(error, name);
  return (
    <div className={`field${msg ? ' field-invalid' : ''}`} data-field={name}>
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        name,
        'aria-invalid': msg ? true : undefined,
        'aria-describedby': msg ? `${id}-err` : undefined,
      })}
      {msg ? (
        <div className="field-error" id={`${id}-err`} role="alert" data-error-for={name}>
          <Icon name="alert" size={14} /> {msg}
        </div>
      ) : hint ? (
        <div className="field-hint">{hint}</div>
      ) : null}
    </div>
  );
}

export function TextField({
  label,
  name,
  error,
  hint,
  ...input
}: {
  label: string;
  name: string;
  error?: ApiError;
  hint?: ReactNode;
} & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(p) => <input className="input" {...p} {...input} />}
    </Field>
  );
}

export function SelectField({
  label,
  name,
  error,
  hint,
  options,
  placeholder,
  ...select
}: {
  label: string;
  name: string;
  error?: ApiError;
  hint?: ReactNode;
  options: { value: string; label?: string }[];
  placeholder?: string;
} & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(p) => (
        <select className="input" {...p} {...select}>
          {placeholder !== undefined ? <option value="">{placeholder}</option> : null}
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label ?? o.value}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** Checkboxes choosing some of `items` by name; `empty` shows when there are none. */
export function ChecksField<T extends { name: string }>({
  label,
  name,
  error,
  hint,
  items,
  chosen,
  onChange,
  what,
  detail,
  empty,
}: {
  label: string;
  name: string;
  error?: ApiError;
  hint?: ReactNode;
  items: T[] | undefined;
  chosen: string[];
  onChange: (names: string[]) => void;
  /** What an item is: each box is labelled "<what> <name>". */
  what: string;
  detail?: (item: T) => ReactNode;
  empty?: ReactNode;
}) {
  return (
    <Field label={label} name={name} error={error} hint={hint}>
      {(p) => (
        <div className="checks" id={p.id} aria-invalid={p['aria-invalid']}>
          {items?.length === 0 && empty ? <span className="muted">{empty}</span> : null}
          {items?.map((item) => {
            const on = chosen.includes(item.name);
            return (
              <label key={item.name} className={`check${on ? ' on' : ''}`}>
                <input
                  type="checkbox"
                  aria-label={`${what} ${item.name}`}
                  checked={on}
                  onChange={(e) =>
                    onChange(
                      e.target.checked ? [...chosen, item.name] : chosen.filter((x) => x !== item.name),
                    )
                  }
                />
                <span>
                  {item.name}
                  {detail ? (
                    <>
                      {' '}
                      <span className="muted small">{detail(item)}</span>
                    </>
                  ) : null}
                </span>
              </label>
            );
          })}
        </div>
      )}
    </Field>
  );
}

/** The error of a form when it names none of the form's fields (or no field at all). */
export function FormError({ error, fields }: { error?: ApiError; fields: string[] }) {
  if (!error || fields.some((f) => errorFor(error, f))) return null;
  return (
    <div className="banner banner-error" role="alert" data-testid="form-error">
      <Icon name="alert" size={16} />
      <span>
        {error.status === 403 ? <strong>Not allowed. </strong> : null}
        {friendly(error.message)}
        {error.field ? <span className="muted"> ({error.field})</span> : null}
      </span>
    </div>
  );
}

/** Runs an action, keeping its busy flag and its ApiError. */
export function useAction<A extends unknown[]>(fn: (...args: A) => Promise<unknown>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const ref = useRef(fn);
  ref.current = fn;
  const run = useCallback(async (...args: A) => {
    setBusy(true);
    setError(undefined);
    try {
      await ref.current(...args);
      return true;
    } catch (e) {
      setError(asApiError(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, busy, error, setError };
}

export function Form({
  onSubmit,
  children,
  className,
}: {
  onSubmit: () => void;
  children: ReactNode;
  className?: string;
}) {
  return (
    <form
      className={className ?? 'form'}
      noValidate
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}

// ---------- overlays ----------
export function Drawer({
  title,
  onClose,
  children,
  footer,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <aside
        className={`drawer${wide ? ' drawer-wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-label={title}
      >
        <header className="drawer-head">
          <h2>{title}</h2>
          <button type="button" className="icon-btn" onClick={onClose} aria-label="Close">
            <Icon name="close" />
          </button>
        </header>
        <div className="drawer-body">{children}</div>
        {footer ? <footer className="drawer-foot">{footer}</footer> : null}
      </aside>
    </div>
  );
}

/** What a form drawer needs of useAction's result. */
export interface FormAction {
  run: () => Promise<boolean>;
  busy: boolean;
  error?: ApiError;
}

/**
 * A drawer holding one form: Cancel and a submit button in its footer (Enter in a field submits too), and
 * above the fields the action's error when it names none of them.
 */
export function FormDrawer({
  title,
  onClose,
  action,
  submitLabel,
  submitTestId,
  wide,
  fields,
  children,
}: {
  title: string;
  onClose: () => void;
  action: FormAction;
  submitLabel: string;
  submitTestId?: string;
  wide?: boolean;
  /** The names the form's fields show errors for; an error naming another goes above the form. */
  fields: string[];
  children: ReactNode;
}) {
  const submit = () => void action.run();
  return (
    <Drawer
      title={title}
      onClose={onClose}
      wide={wide}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" busy={action.busy} onClick={submit} data-testid={submitTestId}>
            {submitLabel}
          </Button>
        </>
      }
    >
      <Form onSubmit={submit}>
        <FormError error={action.error} fields={fields} />
        {children}
      </Form>
    </Drawer>
  );
}

export function Confirm({
  title,
  body,
  confirmLabel = 'Delete',
  typeToConfirm,
  onConfirm,
  onClose,
}: {
  title: string;
  body: ReactNode;
  confirmLabel?: string;
  /** The user types this (the object's name) before the button arms. */
  typeToConfirm?: string;
  onConfirm: () => Promise<unknown>;
  onClose: () => void;
}) {
  const [typed, setTyped] = useState('');
  const act = useAction(onConfirm);
  return (
    <div className="overlay overlay-center" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="alertdialog" aria-modal="true" aria-label={title}>
        <h2>{title}</h2>
        <div className="dialog-body">{body}</div>
        {typeToConfirm ? (
          <TextField
            label={`Type ${typeToConfirm} to confirm`}
            name="confirm"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            autoFocus
          />
        ) : null}
        <FormError error={act.error} fields={[]} />
        <div className="dialog-actions">
          <Button onClick={onClose}>Cancel</Button>
          <Button
            variant="danger"
            busy={act.busy}
            disabled={Boolean(typeToConfirm) && typed !== typeToConfirm}
            onClick={() => void act.run().then((ok) => ok && onClose())}
          >
            {confirmLabel}
          </Button>
        </div>
      </div>
    </div>
  );
}

// ---------- toasts ----------
interface Toast {
  id: number;
  kind: 'ok' | 'error' | 'info';
  text: string;
}
const ToastContext = createContext<(kind: Toast['kind'], text: string) => void>(() => undefined);
export const useToast = () => useContext(ToastContext);

export function Toasts({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const push = useCallback((kind: Toast['kind'], text: string) => {
    const id = next.current++;
    setToasts((t) => [...t.slice(-3), { id, kind, text }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 8000 : 4000);
  }, []);
  return (
    <ToastContext.Provider value={push}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`}>
            <Icon name={{ error: 'alert', ok: 'check', info: 'activity' }[t.kind]} size={16} />
            <span>{t.text}</span>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

// ---------- display ----------
const VM_STATES: Record<string, { label: string; tone: string; busy?: boolean }> = {
  C_D: { label: 'Creating disk', tone: 'warn', busy: true },
  C_N: { label: 'Configuring network', tone: 'warn', busy: true },
  U: { label: 'Up', tone: 'ok' },
  D: { label: 'Down', tone: 'muted' },
  E: { label: 'Error', tone: 'bad' },
  X: { label: 'Deleting', tone: 'muted', busy: true },
};
const NET_STATES: Record<string, { label: string; tone: string; busy?: boolean }> = {
  C: { label: 'Creating', tone: 'warn', busy: true },
  U: { label: 'Up', tone: 'ok' },
  E: { label: 'Error', tone: 'bad' },
  X: { label: 'Deleting', tone: 'muted', busy: true },
};
const TASK_STATES: Record<string, { label: string; tone: string; busy?: boolean }> = {
  pending: { label: 'Pending', tone: 'info', busy: true },
  running: { label: 'Running', tone: 'info', busy: true },
  successful: { label: 'Successful', tone: 'ok' },
  rolling_back: { label: 'Rolling back', tone: 'warn', busy: true },
  rolled_back: { label: 'Rolled back', tone: 'bad' },
  failed: { label: 'Failed', tone: 'bad' },
};

export const isBusyVmState = (s: string) => Boolean(VM_STATES[s]?.busy);
export const isBusyNetState = (s: string) => Boolean(NET_STATES[s]?.busy);

export function StatePill({ state, kind = 'vm' }: { state: string; kind?: 'vm' | 'net' | 'task' }) {
  const table = kind === 'vm' ? VM_STATES : kind === 'net' ? NET_STATES : TASK_STATES;
  const s = table[state] ?? { label: state, tone: 'muted' };
  return (
    <span className={`pill pill-${s.tone}`} data-state={state} title={state}>
      {s.busy ? <span className="pulse" aria-hidden="true" /> : <span className="dot" aria-hidden="true" />}
      {s.label}
    </span>
  );
}

export function PageHeader({
  title,
  subtitle,
  actions,
  crumbs,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
  crumbs?: ReactNode;
}) {
  return (
    <div className="page-head">
      <div>
        {crumbs ? <div className="crumbs">{crumbs}</div> : null}
        <h1>{title}</h1>
        {subtitle ? <p className="subtitle">{subtitle}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}

export function Card({
  title,
  actions,
  children,
  className,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`card${className ? ` ${className}` : ''}`}>
      {title || actions ? (
        <header className="card-head">
          {title ? <h3>{title}</h3> : <span />}
          {actions}
        </header>
      ) : null}
      {children}
    </section>
  );
}

export function Empty({
  icon = 'cloud',
  title,
  children,
}: {
  icon?: string;
  title: string;
  children?: ReactNode;
}) {
  return (
    <div className="empty">
      <div className="empty-icon">
        <Icon name={icon} size={28} />
      </div>
      <h3>{title}</h3>
      {children ? <div className="muted">{children}</div> : null}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="loading">
      <span className="spinner" /> {what}…
    </div>
  );
}

export function ErrorBanner({ error, onRetry }: { error?: ApiError; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert">
      <Icon name="alert" size={16} />
      <span>{error.message}</span>
      {onRetry ? (
        <button type="button" className="link" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export interface Column<T> {
  key: string;
  label: string;
  render: (row: T) => ReactNode;
  className?: string;
}

/** A table at desktop width; each row becomes a labelled card at phone width. */
export function Table<T>({
  columns,
  rows,
  rowKey,
  empty,
  rowProps,
}: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (r: T) => string;
  empty?: ReactNode;
  rowProps?: (r: T) => Record<string, string | undefined>;
}) {
  if (!rows.length && empty) return <>{empty}</>;
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.key} className={c.className}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)} {...rowProps?.(r)}>
              {columns.map((c) => (
                <td key={c.key} className={c.className} data-label={c.label}>
                  {c.render(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function KeyValues({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v]) => (
        <div key={k} className="kv-row">
          <dt>{k}</dt>
          <dd>{v ?? <span className="muted">—</span>}</dd>
        </div>
      ))}
    </dl>
  );
}

export function timeAgo(at: string | number | null | undefined): string {
  if (at === null || at === undefined) return '';
  const t = typeof at === 'number' ? at : Date.parse(at);
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(t).toLocaleDateString();
}
