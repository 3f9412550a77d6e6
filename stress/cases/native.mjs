// Case 8: leaks and races in the native code. `cargo test -p ffi-events`
// under valgrind memcheck (stress/valgrind.sh) and the loom model of the
// registry and the liveness latch (stress/loom.sh).
//
// A check whose tool is missing is not run, and says so in `notRun`: the
// suite reports the case as NOT RUN, never as a pass.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Check } from '../lib.mjs'

function sh(root, script, env, timeout) {
  const started = performance.now()
  const r = spawnSync('bash', [join(root, 'stress', script)], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout, maxBuffer: 64 << 20 })
  return { ...r, ms: Math.round(performance.now() - started), out: `${r.stdout}\n${r.stderr}` }
}

export async function run({ reduced, root }) {
  const check = new Check()
  const notRun = []
  const hasCargo = spawnSync('cargo', ['--version']).status === 0
  if (!hasCargo) {
    const why = 'cargo not installed: memcheck and the loom model not run'
    return { figures: { notRun: [why] }, line: why, violations: [], notRun: [why] }
  }

  const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' })
  let vgLine
  // The reduced run (npm test) leaves memcheck to the full suite unless asked:
  // `cargo test --workspace` in npm test already runs the same tests natively.
  const skipValgrind = reduced && process.env.FFI_EVENTS_VALGRIND !== '1'
  if (skipValgrind) vgLine = 'valgrind: full suite only (FFI_EVENTS_VALGRIND=1 to run it here)'
  else if (valgrind.status === 0) {
    const r = sh(root, 'valgrind.sh', {}, 1_200_000)
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('valgrind: '))
    const errors = lines.map((l) => Number(/errors=(\d+)/.exec(l)?.[1] ?? NaN))
    const lost = lines.map((l) => /definitely_lost=([\d,]+)B/.exec(l)?.[1] ?? '?')
    const tests = lines.map((l) => Number(/ok\. (\d+) passed/.exec(l)?.[1] ?? 0)).reduce((a, b) => a + b, 0)
    check.eq(r.status, 0, `valgrind.sh exit status (${r.out.trim().split('\n').slice(-5).join(' / ')})`)
    check.that(lines.length > 0, 'valgrind ran no test binary')
    check.that(errors.every((e) => e === 0), `memcheck errors: ${lines.join(' | ')}`)
    vgLine = `memcheck (${valgrind.stdout.trim()}): ${lines.length} test binaries, ${tests} tests, ${errors.reduce((a, b) => a + b, 0)} errors, definitely lost ${lost.join('+')} B, ${(r.ms / 1000).toFixed(1)} s`
  } else {
    vgLine = 'valgrind not installed: memcheck not run'
    notRun.push(vgLine)
  }

  // Every model at its own bound (stress/loom.sh): a global override would
  // push the conservation models past what loom can explore.
  const l = sh(root, 'loom.sh', {}, 1_200_000)
  const summary = /loom_model: (\d+) passed, (\d+) failed \(([\d.]+)s\)/.exec(l.stdout)
  check.eq(l.status, 0, `loom model exit status (${l.out.trim().split('\n').slice(-8).join(' / ')})`)
  check.that(summary !== null, 'loom model printed no summary')
  check.that(summary !== null && Number(summary[1]) > 0, 'loom ran no model')
  const loomLine = summary ? `loom (each model at its bound): ${summary[1]} models passed, ${summary[2]} failed, ${summary[3]} s` : 'loom: no result'
  return {
    figures: { valgrind: vgLine, loom: loomLine, notRun },
    line: `${vgLine}; ${loomLine}`,
    violations: check.violations,
    notRun,
  }
}
