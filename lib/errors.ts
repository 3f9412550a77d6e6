/** Error codes carried by `EventHubError#code`. */
export type EventHubErrorCode =
  | 'ERR_HUB_CLOSED'
  | 'ERR_EVENT_DECODE'
  | 'ERR_LISTENER_THREW'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_NATIVE_ERROR'
  | 'ERR_FFI_EVENTS_NO_BINDING'

/** Options of the `EventHubError` constructor. */
export interface EventHubErrorOptions {
  code: EventHubErrorCode
  /** The event being delivered when the error happened. */
  eventName?: string
  /** Its sequence number. */
  seq?: number
  /** The underlying error (a decode failure, what a listener threw or rejected with). */
  cause?: unknown
}

/**
 * An error of the hub itself: delivery problems go to `onError` handlers,
 * misuse (a closed hub, a timed-out `waitFor`) is thrown or rejected.
 */
export class EventHubError extends Error {
  readonly code: EventHubErrorCode
  readonly eventName: string | undefined
  readonly seq: number | undefined

  constructor(message: string, options: EventHubErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'EventHubError'
    this.code = options.code
    this.eventName = options.eventName
    this.seq = options.seq
  }
}

export function closedError(method: string): EventHubError {
  return new EventHubError(`Cannot call ${method}() on a closed EventHub`, { code: 'ERR_HUB_CLOSED' })
}

/** The error a `signal` abort rejects with: its reason, or an `AbortError`. */
export function abortError(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason
  const error = new Error('The operation was aborted')
  error.name = 'AbortError'
  return error
}
