/**
 * Domain errors. The core throws these and knows nothing about HTTP; `functions/shared/http.ts`
 * maps each class to one status code.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed or names something that cannot exist (400). */
export class ValidationError extends DomainError {
  readonly code = 'invalid_request';
}

/** The session (or the project in it) does not exist (404). */
export class NotFoundError extends DomainError {
  readonly code = 'not_found';
}

/** The request is well-formed but clashes with the current state (409). */
export class ConflictError extends DomainError {
  constructor(
    message: string,
    readonly code: string = 'conflict',
  ) {
    super(message);
  }
}

/** Not yet: the thing asked for will exist in a moment (409 with `Retry-After`). */
export class NotReadyError extends DomainError {
  readonly code = 'not_ready';
  readonly retryAfterSeconds = 1;
}

/** No valid credentials (401). */
export class UnauthorizedError extends DomainError {
  readonly code = 'unauthorized';
}

/** Valid credentials, but not allowed here (403). */
export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
}

/** The request body is over the size cap (413). */
export class PayloadTooLargeError extends DomainError {
  readonly code = 'payload_too_large';
}
