// Contender (b) of the throughput rows: a worker thread producing the same
// payloads as the native sources and posting each one as its own message
// (structured clone). The latency rows' worker is worker-paced.mjs.

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

parentPort.once('message', burst)
