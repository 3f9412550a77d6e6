// Case 2: listener churn while 4 native producers emit. The JS side adds and
// removes listeners (between batches and from inside listeners) and now and
// then calls removeAllListeners. No crash, no deadlock, no call to a
// listener after its off() returned, and the listeners that stayed
// subscribed receive every accepted event exactly once.
import { Check, EventHub, SeqSet, fmt, prng, sources, turn } from '../lib.mjs'

const THREADS = 4

export async function run({ reduced }) {
  const check = new Check()
  const iterations = reduced ? 1_000 : 10_000
  const clearEvery = reduced ? 100 : 500
  const burstSize = 200_000
  const random = prng(0xc0ffee)
  const hub = new EventHub({ capacity: 8192, stallTimeoutMs: 0 })
  // Upper bound for seqs: bursts run until churn ends; sized generously.
  const seen = [new SeqSet(400_000_000), new SeqSet(400_000_000)]
  let stayerCalls = [0, 0]
  let afterOff = 0
  let onceTwice = 0
  let adds = 0
  let removes = 0
  let clears = 0
  let churnCalls = 0
  let inDispatchChurn = 0
  /** Churn listeners: id → state; `off` is set right after off() returns. */
  const live = new Map()

  const addChurn = () => {
    const state = { off: false, calls: 0, kind: random.int(4) }
    const fn = (...args) => {
      churnCalls++
      state.calls++
      if (state.off) afterOff++
      if (state.kind === 1 && state.calls > 1) onceTwice++
      void args
    }
    let id
    switch (state.kind) {
      case 0: id = hub.on('e', fn); break
      case 1: id = hub.once('e', fn); break
      case 2: id = hub.onRaw('e', fn); break
      default: id = hub.onAny(fn)
    }
    live.set(id, state)
    adds++
  }
  const removeRandom = () => {
    if (live.size === 0) return
    const ids = [...live.keys()]
    const id = ids[random.int(ids.length)]
    const state = live.get(id)
    hub.off(id)
    state.off = true
    live.delete(id)
    removes++
  }
  const subscribeStayers = () => {
    hub.onRaw('e', (_bytes, meta) => {
      stayerCalls[0]++
      seen[0].add(meta.seq)
    })
    hub.onAny((name, _payload, meta) => {
      if (name !== 'e') return
      stayerCalls[1]++
      seen[1].add(meta.seq)
    })
    // Churns from inside dispatch: removes one listener, adds another.
    hub.onRaw('e', (_bytes, meta) => {
      if (meta.seq % 97 === 0 && !hub.closed) {
        removeRandom()
        addChurn()
        inDispatchChurn++
      }
    })
  }
  subscribeStayers()
  const errors = []
  hub.onError((error) => {
    if (errors.length < 5) errors.push(`${error.code}: ${error.message} ${error.cause?.stack ?? ''}`)
  })

  let churning = true
  let bursts = 0
  const producing = (async () => {
    while (churning) {
      await sources.burst(hub, { name: 'e', count: burstSize, threads: THREADS, payloadBytes: 8, encoding: 'raw' })
      bursts++
    }
  })()

  const started = performance.now()
  for (let n = 1; n <= iterations; n++) {
    addChurn()
    if (live.size > 8 || random() < 0.5) removeRandom()
    if (n % clearEvery === 0) {
      // Outside dispatch: the stayers are subscribed again in the same
      // synchronous step, so no batch runs while they are absent.
      hub.removeAllListeners()
      for (const state of live.values()) state.off = true
      live.clear()
      clears++
      subscribeStayers()
    }
    // Let batches interleave with the churn.
    if (n % 4 === 0) await turn()
  }
  churning = false
  await producing
  await hub.close()
  const ms = performance.now() - started
  const s = hub.stats()
  check.eq(s.emitted, s.delivered + s.refused + s.discarded + s.queued, 'emitted == delivered + refused + discarded + queued')
  check.eq(s.discarded, 0, "discarded ('reject' hub, closed before teardown)")
  check.eq(afterOff, 0, 'listener calls after off() returned')
  check.eq(onceTwice, 0, 'once listeners called more than once')
  for (const k of [0, 1]) {
    const which = k === 0 ? 'onRaw stayer' : 'onAny stayer'
    check.eq(stayerCalls[k], s.delivered, `${which} calls == delivered`)
    check.eq(seen[k].size, s.delivered, `${which} distinct seqs == delivered`)
    check.eq(seen[k].duplicates, 0, `${which} duplicate deliveries`)
  }
  check.eq(s.listenerErrors, 0, `listener errors ${JSON.stringify(errors)}`)
  check.that(s.delivered > 0, 'nothing was delivered')
  return {
    figures: { iterations, adds, removes, clears, inDispatchChurn, bursts, emitted: s.emitted, delivered: s.delivered, refused: s.refused, churnCalls, ms: Math.round(ms) },
    line: `${fmt(iterations)} churn iterations (${fmt(adds)} adds, ${fmt(removes)} offs, ${clears} removeAll, ${fmt(inDispatchChurn)} in-dispatch), ${fmt(s.emitted)} events from ${THREADS} threads, delivered ${fmt(s.delivered)} (stayers: each exactly once), refused ${fmt(s.refused)}, calls after off 0/${fmt(churnCalls)}, ${Math.round(ms)} ms`,
    violations: check.violations,
  }
}
