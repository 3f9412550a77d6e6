/** Error codes carried by `EventHubError#code`. */
export type EventHubErrorCode =
  | 'ERR_HUB_CLOSED'
  | 'ERR_EVENT_DECODE'
  | 'ERR_LISTENER_THREW'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_NATIVE_ERROR'
  | 'ERR_REPORTS_LOST'
  | 'ERR_FFI_EVENTS_NO_BINDING'

/** The native sink a report came through: its fixed event name (none for an `'envelope'` sink) and its format. */
export interface ReportingSink {
  readonly name: string | undefined
  readonly format: 'envelope' | 'cbor' | 'raw' | 'json'
}

/** Options of the `EventHubError` constructor. */
export interface EventHubErrorOptions {
  code: EventHubErrorCode
  /** The event being delivered when the error happened. */
  eventName?: string
  /** Its sequence number. */
  seq?: number
  /** The underlying error (a decode failure, what a listener threw or rejected with). */
  cause?: unknown
  /** `ERR_NATIVE_ERROR`: the library's `ret`, as it sent it. */
  ret?: number
  /** `ERR_NATIVE_ERROR`, `ERR_REPORTS_LOST`, and `ERR_EVENT_DECODE` of a malformed input: the sink it came through. */
  sink?: ReportingSink
  /** `ERR_REPORTS_LOST`: how many reports were lost since the last such error. */
  lost?: number
}

/**
 * An error of the hub itself: delivery problems go to `onError` handlers,
 * misuse (a closed hub, a timed-out `waitFor`) is thrown or rejected.
 */
export class EventHubError extends Error {
  readonly code: EventHubErrorCode
  readonly eventName: string | undefined
  readonly seq: number | undefined
  /**
   * `ERR_NATIVE_ERROR`: the `ret` the library passed (non-zero), so that a
   * warning (nim-ffi's `RET_STALE_WARN`, 3) and a failure (1) can be told
   * apart. `ERR_REPORTS_LOST`: the last lost report's `ret`.
   */
  readonly ret: number | undefined
  /** The native sink a report came through (see `ReportingSink`). */
  readonly sink: ReportingSink | undefined
  /** `ERR_REPORTS_LOST`: reports lost since the last such error. */
  readonly lost: number | undefined

  constructor(message: string, options: EventHubErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'EventHubError'
    this.code = options.code
    this.eventName = options.eventName
    this.seq = options.seq
    this.ret = options.ret
    this.sink = options.sink
    this.lost = options.lost
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
