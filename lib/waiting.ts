// `waitFor` and `events()`: built on the hub's public `once`/`on`/`off`
// and one close notification.

import { abortError, closedError, EventHubError } from './errors'
import type { EventMeta } from './types'

/** What the helpers here need of a hub. */
export interface Subscribable<P> {
  readonly closed: boolean
  once(listener: (payload: P, meta: EventMeta) => void): number
  on(listener: (payload: P) => void): number
  off(id: number): boolean
  /** Calls `fn` once when the hub closes; returns a function that cancels it. */
  onClose(fn: () => void): () => void
}

/** Resolves with the next payload (with `withMeta`, `{ payload, meta }`); rejects on timeout, abort or close. */
export function waitFor<P>(
  hub: Subscribable<P>,
  name: string,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  withMeta: boolean,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (hub.closed) return reject(closedError('waitFor'))
    if (signal?.aborted) return reject(abortError(signal))
    let timer: NodeJS.Timeout | undefined
    const settle = (): void => {
      hub.off(id)
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      cancelOnClose()
    }
    const onAbort = (): void => {
      settle()
      reject(abortError(signal as AbortSignal))
    }
    // A listener gets `meta` only when it declares the parameter.
    const id = withMeta
      ? hub.once((payload, meta) => {
          settle()
          resolve({ payload, meta })
        })
      : hub.once((payload) => {
          settle()
          resolve(payload)
        })
    const cancelOnClose = hub.onClose(() => {
      settle()
      reject(closedError('waitFor'))
    })
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        settle()
        reject(new EventHubError(`No "${name}" event within ${timeoutMs} ms`, { code: 'ERR_WAIT_TIMEOUT', eventName: name }))
      }, timeoutMs)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Iterates over payloads until the hub closes or `signal` aborts; buffers without bound while the loop body runs. */
export function iterate<P>(hub: Subscribable<P>, signal: AbortSignal | undefined): AsyncIterableIterator<P> {
  const queue: P[] = []
  let head = 0
  let wake: (() => void) | undefined
  let ended = false
  let failure: { reason: unknown } | undefined
  const notify = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  const id = hub.on((payload) => {
    queue.push(payload)
    notify()
  })
  const onAbort = (): void => {
    failure = { reason: abortError(signal as AbortSignal) }
    notify()
  }
  const cancelOnClose = hub.onClose(() => {
    ended = true
    notify()
  })
  const cleanup = (): void => {
    ended = true
    hub.off(id)
    cancelOnClose()
    signal?.removeEventListener('abort', onAbort)
    queue.length = 0
    head = 0
    notify()
  }
  if (signal?.aborted) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })

  const iterator: AsyncIterableIterator<P> = {
    next: async (): Promise<IteratorResult<P>> => {
      for (;;) {
        if (failure !== undefined) {
          const { reason } = failure
          cleanup()
          failure = undefined
          throw reason
        }
        if (head < queue.length) {
          const value = queue[head++]
          if (head > 1024 && head * 2 > queue.length) {
            queue.splice(0, head)
            head = 0
          }
          return { value, done: false }
        }
        if (ended) {
          cleanup()
          return { value: undefined, done: true }
        }
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    },
    return: async (): Promise<IteratorResult<P>> => {
      cleanup()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return iterator
    },
  }
  return iterator
}
