// Runs one case of the reliability suite (stress/) at its reduced size in a
// child process and returns its result. The full sizes run with
// `npm run test:stress`.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { root } from './helpers'

export interface CaseResult {
  status: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  line: string
  figures: Record<string, unknown>
  violations: string[]
  /** Checks the case could not run here (a missing tool), with the reason. */
  notRun: string[]
  stderr: string
}

export function runCase(name: string, timeoutMs = 110_000): CaseResult {
  const child = spawnSync(process.execPath, ['--expose-gc', join(root, 'stress', 'index.mjs'), '--run', name, '--reduced'], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  })
  const line = child.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  const result = line === undefined ? undefined : (JSON.parse(line.slice('RESULT '.length)) as Omit<CaseResult, 'status' | 'signal' | 'timedOut' | 'stderr'>)
  return {
    status: child.status,
    signal: child.signal,
    timedOut: (child.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT',
    line: result?.line ?? '',
    figures: result?.figures ?? {},
    violations: result?.violations ?? ['the case printed no result'],
    notRun: ((result as { notRun?: string[] } | undefined)?.notRun ?? (result?.figures?.notRun as string[] | undefined)) ?? [],
    stderr: child.stderr,
  }
}

/**
 * Registers the ava test of one case: it must finish within `timeoutMs`,
 * exit cleanly and report no violation. Each case has a spec file of its
 * own so that ava runs them in parallel processes.
 */
export function reliabilityTest(title: string, name: string, timeoutMs = 110_000): void {
  test(`reliability (reduced) ${title}`, (t) => {
    t.timeout(timeoutMs + 10_000)
    const r = runCase(name, timeoutMs)
    t.log(r.line)
    t.false(r.timedOut, 'hang guard fired')
    t.is(r.signal, null, r.stderr)
    t.is(r.status, 0, r.stderr)
    t.deepEqual(r.violations, [])
    // A check that could not run is not a pass. Hosts that lack the tool on
    // purpose (containers without a Rust toolchain) say so explicitly.
    if (process.env.FFI_EVENTS_ALLOW_NOT_RUN === '1') {
      for (const why of r.notRun) t.log(`NOT RUN: ${why}`)
    } else {
      t.deepEqual(r.notRun, [], 'checks not run (set FFI_EVENTS_ALLOW_NOT_RUN=1 where that is intended)')
    }
  })
}
