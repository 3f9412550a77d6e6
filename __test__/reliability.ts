// Runs one case of the reliability suite (stress/) at its reduced size in a
// child process and returns its result. The full sizes run with
// `npm run test:stress`.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

export interface CaseResult {
  status: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  line: string
  figures: Record<string, unknown>
  violations: string[]
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
    stderr: child.stderr,
  }
}
