// The few typed errors every service throws; mapped to HTTP in one table (httpStatusOf).

export type ErrorKind =
  'input' | 'unauthenticated' | 'not_allowed' | 'not_found' | 'conflict' | 'too_many' | 'unavailable';

export class AppError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly field?: string,
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

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: string;
  field?: string;
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
