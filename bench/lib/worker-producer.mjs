// Contender (b): a worker thread producing the same payloads as the native
// sources and posting each one as its own message (structured clone).

import { parentPort } from 'node:worker_threads'

function burst({ thread, count, encoding, payloadBytes }) {
  if (encoding === 'raw') {
    const bytes = new Uint8Array(payloadBytes)
    const view = new DataView(bytes.buffer)
    for (let i = 0; i < count; i++) {
      // Same layout as the native burst: u32 thread, u32 index, zeros.
      if (payloadBytes >= 8) {
        view.setUint32(0, thread, true)
        view.setUint32(4, i, true)
      }
      parentPort.postMessage(bytes)
    }
  } else if (encoding === 'tick') {
    for (let i = 0; i < count; i++) parentPort.postMessage({ n: i, at: process.hrtime.bigint() })
  } else {
    const data = new Uint8Array(payloadBytes)
    for (let i = 0; i < count; i++) parentPort.postMessage({ thread, i, data })
  }
}

/** Paced like the native ticker: sleep until 500 µs before the deadline, then spin. */
function ticker({ intervalMs, count }) {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const interval = BigInt(Math.round(intervalMs * 1e6))
  const spin = 500_000n
  const start = process.hrtime.bigint()
  for (let n = 0; n < count; n++) {
    const deadline = start + interval * BigInt(n)
    const ahead = deadline - process.hrtime.bigint()
    if (ahead > spin) Atomics.wait(cell, 0, 0, Number(ahead - spin) / 1e6)
    while (process.hrtime.bigint() < deadline);
    parentPort.postMessage({ n, at: process.hrtime.bigint() })
  }
}

parentPort.once('message', (job) => {
  if (job.mode === 'ticker') ticker(job)
  else burst(job)
})
