#!/usr/bin/env node
// Reliability suite: `npm run test:stress` (full) or
// `node stress/index.mjs --reduced` (the sizes `npm test` uses).
//
//   node stress/index.mjs [--reduced] [--case name,name] [--json]
//   node --expose-gc stress/index.mjs --run <case> [--reduced]   (one case, in-process)
//
// Each case runs in its own Node process (so a crash, a hang or a leak in
// one cannot hide in another) under a hang guard, and prints one line with
// its figures: PASS, FAIL, or NOT RUN when a tool a case needs is missing
// (the case lists what it could not run in `notRun`). A case that is not run
// is not a pass. Exit code: 1 if any case reports a violation, crashes or
// times out; otherwise 2 if any case was not run; 0 when every case passed.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')

/** name → [module, hang guard in ms for the full size] */
export const CASES = {
  accounting: ['accounting.mjs', 600_000],
  churn: ['churn.mjs', 600_000],
  wedged: ['wedged.mjs', 300_000],
  stall: ['stall.mjs', 300_000],
  teardown: ['teardown.mjs', 900_000],
  close: ['close.mjs', 300_000],
  badinput: ['badinput.mjs', 600_000],
  native: ['native.mjs', 1_800_000],
  tsan: ['tsan.mjs', 1_800_000],
}

const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const option = (name) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const reduced = flag('--reduced')

if (option('--run') !== undefined) {
  // Child mode: run one case here and print its result as one JSON line.
  const name = option('--run')
  const [file] = CASES[name] ?? []
  if (file === undefined) throw new Error(`unknown case ${name}`)
  const started = performance.now()
  let result
  try {
    const mod = await import(join(here, 'cases', file))
    result = await mod.run({ reduced, root })
  } catch (error) {
    result = { figures: {}, line: 'threw', violations: [`threw: ${error?.stack ?? error}`] }
  }
  result.ms = Math.round(performance.now() - started)
  process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`)
  // A case must not leave anything keeping the process alive; exit anyway.
  process.exit(0)
}

const selected = option('--case')?.split(',') ?? Object.keys(CASES)
const results = {}
let failed = 0
let notRun = 0
console.log(`ffi-events reliability suite (${reduced ? 'reduced' : 'full'}), node ${process.version}, ${process.platform}-${process.arch}`)
for (const name of selected) {
  const [, guard] = CASES[name] ?? []
  if (guard === undefined) throw new Error(`unknown case ${name}`)
  const timeout = reduced ? Math.min(guard, 120_000) : guard
  const started = performance.now()
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', join(here, 'index.mjs'), '--run', name, ...(reduced ? ['--reduced'] : [])],
    { cwd: root, encoding: 'utf8', timeout, maxBuffer: 64 << 20 },
  )
  const ms = Math.round(performance.now() - started)
  const line = child.stdout?.split('\n').find((l) => l.startsWith('RESULT '))
  let result
  if (line !== undefined) result = JSON.parse(line.slice('RESULT '.length))
  const problems = []
  if (child.error?.code === 'ETIMEDOUT' || child.signal === 'SIGTERM') problems.push(`hang: no result within ${timeout} ms`)
  else if (child.signal) problems.push(`crashed with ${child.signal}`)
  else if (child.status !== 0) problems.push(`exited with ${child.status}`)
  if (result === undefined) problems.push('printed no result')
  else problems.push(...result.violations)
  const missing = result?.notRun ?? []
  const ok = problems.length === 0 && missing.length === 0
  const status = problems.length > 0 ? 'FAIL' : missing.length > 0 ? 'NOT RUN' : 'PASS'
  if (status === 'FAIL') failed++
  else if (status === 'NOT RUN') notRun++
  results[name] = { ok, status, ms, ...(result ?? {}), violations: problems, notRun: missing }
  console.log(`${status.padEnd(7)} ${name.padEnd(10)} ${result?.line ?? ''} [${(ms / 1000).toFixed(1)} s]`)
  for (const p of problems) console.log(`     violation: ${p}`)
  for (const m of missing) console.log(`     not run: ${m}`)
  if (status === 'FAIL' && child.stderr) console.log(child.stderr.split('\n').slice(-20).map((l) => `     | ${l}`).join('\n'))
}
const out = option('--json')
if (out !== undefined) writeFileSync(out, JSON.stringify(results, null, 2))
else if (!reduced && existsSync(join(root, 'target'))) writeFileSync(join(root, 'target', 'stress-last.json'), JSON.stringify(results, null, 2))
if (notRun > 0) console.log(`${notRun} case(s) not run: a tool they need is missing (see "not run" above)`)
console.log(`${selected.length - failed - notRun} passed, ${failed} failed${notRun > 0 ? `, ${notRun} not run` : ''}`)
process.exit(failed > 0 ? 1 : notRun > 0 ? 2 : 0)
