// When a hub may be collected: JavaScript holds a hub strongly only while
// it has listeners. A hub without listeners that the application no longer
// references is collected and closed (its native threads joined, its
// sinks closed, Rust producers then see `Closed`).

import type { NativeHub } from '../binding'

/** Hubs with at least one listener: kept alive like a ref'd Node handle. */
const withListeners = new Set<object>()

/** Closes the native side of a hub that was collected without `close()`. */
const closeCollected = new FinalizationRegistry<NativeHub>((native) => {
  try {
    native.release()
  } catch {
    // Nothing to report to: the hub and its handlers are gone. The native
    // side still closes when its own object is finalized.
  }
})

/** Starts watching `hub`, whose native side is `native`. */
export function track(hub: object, native: NativeHub): void {
  closeCollected.register(hub, native, hub)
}

/** `hub` closed itself: no need to watch it any more. */
export function untrack(hub: object): void {
  closeCollected.unregister(hub)
  withListeners.delete(hub)
}

/** Keeps `hub` alive while `held` (it has listeners or pending requests). */
export function holdWhileListening(hub: object, held: boolean): void {
  if (held) withListeners.add(hub)
  else withListeners.delete(hub)
}
