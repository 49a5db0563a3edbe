// The few typed errors every service throws; mapped to HTTP in one table (httpStatusOf).

export type ErrorKind =
  'input' | 'unauthenticated' | 'not_allowed' | 'not_found' | 'conflict' | 'too_many' | 'unavailable';

export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly field?: string,
    /** A quota refusal's figures: which quota, its limit, what is used (field is then "quota"). */
    readonly quota?: QuotaRefusal,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const inputError = (field: string, message: string) => new AppError('input', message, field);
export const unauthenticated = (message = 'missing or invalid token') =>
  new AppError('unauthenticated', message);
export const notAllowed = (message: string, field?: string) => new AppError('not_allowed', message, field);
export const notFound = (field: string, message: string) => new AppError('not_found', message, field);
export const conflict = (field: string | undefined, message: string) =>
  new AppError('conflict', message, field);
/** A create that would pass a workspace's quota or a per-area limit: 403 naming the quota, limit and use. */
export const overQuota = (q: QuotaRefusal, message?: string) =>
  new AppError(
    'not_allowed',
    message ?? `quota ${q.quota} exceeded: limit ${q.limit}, used ${q.used}`,
    'quota',
    q,
  );
export const tooMany = (message: string) => new AppError('too_many', message);
export const unavailable = (message: string) => new AppError('unavailable', message);

const statusByKind: Record<ErrorKind, number> = {
  input: 400,
  unauthenticated: 401,
  not_allowed: 403,
  not_found: 404,
  conflict: 409,
  too_many: 429,
  unavailable: 503,
};

export function httpStatusOf(kind: ErrorKind): number {
  return statusByKind[kind];
}

export function kindOfStatus(status: number): ErrorKind | undefined {
  for (const [kind, code] of Object.entries(statusByKind)) if (code === status) return kind as ErrorKind;
  return undefined;
}

export interface QuotaRefusal {
  quota: string;
  limit: number;
  used: number;
}

/** The JSON body of every error answer (a quota refusal adds its figures). */
export interface ErrorBody extends Partial<QuotaRefusal> {
  error: string;
  field?: string;
}

/** The body of an AppError's answer. */
export function errorBodyOf(e: AppError): ErrorBody {
  const body: ErrorBody = { error: e.message };
  if (e.field) body.field = e.field;
  if (e.quota) Object.assign(body, e.quota);
  return body;
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
