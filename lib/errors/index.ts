/**
 * The one error hierarchy of Meshwork (shaped after viem's `BaseError`).
 *
 * Callers branch on `name` (a stable literal per subclass) or on `code`, never on message text.
 * Expected outcomes (a verdict, a disagreement, a timeout while waiting for work) are values in
 * discriminated unions, not errors: an error here means the operation could not do what was asked.
 */

export interface BaseErrorParameters {
  /** Extra lines shown after the short message: what was received, what was expected. */
  details?: string | undefined
  /** The underlying error, kept so that `walk()` can find the root cause. */
  cause?: unknown
  /** What the reader can do about it, shown after the details. */
  hint?: string | undefined
}

export class BaseError extends Error {
  override name = 'MeshworkError'
  /** A stable machine-readable code; defaults to the class name. */
  readonly code: string
  /** The one-line message without details, for UIs. */
  readonly shortMessage: string
  readonly details: string | undefined
  readonly hint: string | undefined

  constructor(shortMessage: string, params: BaseErrorParameters = {}) {
    const lines = [shortMessage]
    if (params.details) lines.push('', `Details: ${params.details}`)
    if (params.hint) lines.push('', params.hint)
    super(lines.join('\n'), params.cause === undefined ? undefined : { cause: params.cause })
    this.shortMessage = shortMessage
    this.details = params.details
    this.hint = params.hint
    this.code = new.target.name
  }

  /** Walks the `cause` chain; returns the first error matching `fn`, or the deepest one. */
  walk(fn?: (err: unknown) => boolean): unknown {
    let err: unknown = this
    for (;;) {
      if (fn?.(err)) return err
      const next = err instanceof Error ? err.cause : undefined
      if (next === undefined) return fn ? undefined : err
      err = next
    }
  }
}

/** Input (a file, a form field, a CLI flag) that cannot be used as given. */
export class InvalidInputError extends BaseError {
  override name = 'InvalidInputError' as const
}

/** A message from a peer that failed decoding or validation. Never crashes the receiver. */
export class InvalidMessageError extends BaseError {
  override name = 'InvalidMessageError' as const
}

/** A model that is corrupt (hash mismatch), too large, or that the runtime cannot load. */
export class ModelError extends BaseError {
  override name = 'ModelError' as const
  constructor(
    shortMessage: string,
    readonly reason: 'hash-mismatch' | 'too-large' | 'unsupported' | 'not-found' | 'fetch-failed',
    params: BaseErrorParameters = {},
  ) {
    super(shortMessage, params)
  }
}

/** Inputs that do not match the model's declared inputs (names, types, shapes). */
export class InputMismatchError extends BaseError {
  override name = 'InputMismatchError' as const
}

/** A chain call that failed: a revert, a wrong chain, a missing contract. */
export class ChainError extends BaseError {
  override name = 'ChainError' as const
}

/** A configuration value (flag, environment variable) that is missing or malformed. */
export class ConfigError extends BaseError {
  override name = 'ConfigError' as const
}

/** An operation aborted through its AbortSignal. */
export class AbortedError extends BaseError {
  override name = 'AbortedError' as const
  constructor(what = 'operation') {
    super(`The ${what} was aborted.`)
  }
}

/** Plain-object form of an error, for crossing a worker or process boundary. */
export interface SerializedError {
  name: string
  message: string
  stack?: string | undefined
  code?: string | undefined
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof BaseError) {
    return { name: err.name, message: err.message, stack: err.stack, code: err.code }
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack }
  return { name: 'Error', message: String(err) }
}

/** Short human text for any thrown value, for logs and UIs. */
export function errorMessage(err: unknown): string {
  if (err instanceof BaseError) return err.shortMessage
  if (err instanceof AggregateError && err.errors.length > 0)
    return `${err.message || err.name}: ${err.errors.map(errorMessage).join('; ')}`
  if (err instanceof Error) return err.message || err.name
  // Errors from other realms, events and plain objects: their message, else their name/type.
  if (typeof err === 'object' && err !== null) {
    const o = err as { message?: unknown; name?: unknown; type?: unknown }
    if (typeof o.message === 'string' && o.message) return o.message
    if (typeof o.name === 'string' && o.name) return o.name
    if (typeof o.type === 'string' && o.type) return o.type
    try {
      return JSON.stringify(err).slice(0, 200)
    } catch {}
  }
  return String(err)
}

/** An inference that the runtime started but could not finish. */
export class InferenceError extends BaseError {
  override name = 'InferenceError' as const
}
