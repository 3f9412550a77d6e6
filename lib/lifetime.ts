// When a hub may be collected: a hub holds itself strongly only while it
// has listeners or pending requests (through the delivery function its
// native side holds, see `HubLink` in hub.ts). A hub without either that the
// application no longer references is collected and closed (its native
// threads joined, its sinks closed, Rust producers then see `Closed`).

import type { NativeHub } from '../binding'

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
}
