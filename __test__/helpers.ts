import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Resolves once `condition()` holds; rejects after `timeoutMs` (a hang guard, not a timing assertion). */
export async function until(condition: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** One turn of the event loop, after pending I/O and immediates. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export interface ChildResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

/** Runs a CommonJS script in a fresh Node process with the package resolvable as 'ffi-events'. */
export function runNode(script: string, timeoutMs = 30_000, args: string[] = []): ChildResult {
  const result = spawnSync(process.execPath, [...args, '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
  })
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
    timedOut: result.error !== undefined && (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT',
  }
}

/** Reads the (thread, index) header the burst source writes at the start of raw payloads. */
export function burstHeader(bytes: Uint8Array): { thread: number; i: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { thread: view.getUint32(0, true), i: view.getUint32(4, true) }
}
