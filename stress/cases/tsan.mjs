// Case 9: data races in the native code under ThreadSanitizer. The unit
// tests of the sink table, the close gate and the sink, and the real-thread
// tests of tests/hub_threads.rs, built with -Zsanitizer=thread against a std
// rebuilt with the sanitizer (-Zbuild-std, so that std's locks, channels,
// parking and Arc drops are seen) and run several rounds (stress/tsan.sh;
// stress/tsan.supp holds no suppression). Every report that is not
// suppressed is a violation.
//
// A machine without what the run needs (Debian's rustc-web, cargo-web,
// rust-web-src and libclang-rt-22-dev: see stress/tsan.sh) makes the case
// NOT RUN, never a pass. Imports nothing from ../lib.mjs: the case needs
// cargo, not the Node addon.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

/** Distinct reports quoted per test; the rest are counted. */
const QUOTED = 3
export async function run({ reduced, root }) {
  const violations = []
  const notRun = []
  const rounds = reduced ? 2 : 10
  const started = performance.now()
  const r = spawnSync('bash', [join(root, 'stress', 'tsan.sh'), '--rounds', String(rounds)], {
    cwd: root,
    encoding: 'utf8',
    timeout: 1_500_000,
    maxBuffer: 64 << 20,
  })
  const ms = Math.round(performance.now() - started)
  const out = r.stdout ?? ''
  const tail = `${out}\n${r.stderr ?? ''}`.trim().split('\n').slice(-8).join(' / ')

  const unsupported = /^tsan: unsupported: (.*)$/m.exec(out)
  if (r.status === 3 && unsupported) {
    const why = `ThreadSanitizer not run: ${unsupported[1]}`
    return { figures: { notRun: [why] }, line: why, violations, notRun: [why] }
  }

  const summary = /^tsan: (\d+) tests run \(2 binaries x (\d+) round\(s\)\), (\d+) failed, (\d+) reports, (\d+) suppressed; build ([\d.]+) s, run ([\d.]+) s$/m.exec(out)
  const reports = [...out.matchAll(/^tsan: report \(x(\d+)\): (.*)$/gm)].map((m) => ({ count: Number(m[1]), text: m[2] }))
  const perRound = [...out.matchAll(/^tsan: round (\d+) (\S+): (\d+) passed, (\d+) failed, (\d+) reports/gm)]
  const figures = { rounds, ms, reportsByRound: {}, distinctReports: reports.length }
  for (const m of perRound) (figures.reportsByRound[m[2]] ??= []).push(Number(m[5]))

  if (summary === null) {
    violations.push(`tsan.sh printed no summary (exit ${r.status ?? r.signal}): ${tail}`)
    return { figures, line: `no result (${tail})`, violations, notRun }
  }
  const [, tests, , failed, found, suppressed, buildS, runS] = summary
  Object.assign(figures, { tests: Number(tests), failed: Number(failed), reports: Number(found), suppressed: Number(suppressed), buildS: Number(buildS), runS: Number(runS) })
  if (Number(tests) === 0) violations.push('ThreadSanitizer run: no test ran')
  if (Number(failed) > 0) violations.push(`${failed} test(s) failed under ThreadSanitizer: ${tail}`)
  // One violation per test, most frequent reports first.
  const byTest = new Map()
  for (const { count, text } of reports) {
    const test = / \[test ([^\]]+)\]$/.exec(text)?.[1] ?? 'outside any test'
    const group = byTest.get(test) ?? { total: 0, distinct: [] }
    group.total += count
    group.distinct.push({ count, text: text.replace(/ \[test [^\]]+\]$/, '') })
    byTest.set(test, group)
  }
  figures.reportsByTest = Object.fromEntries([...byTest].map(([test, g]) => [test, { reports: g.total, distinct: g.distinct.length }]))
  for (const [test, { total, distinct }] of byTest) {
    const quoted = distinct.slice(0, QUOTED).map((d) => `(x${d.count}) ${d.text}`).join(' | ')
    const more = distinct.length > QUOTED ? ` | and ${distinct.length - QUOTED} more distinct` : ''
    violations.push(`ThreadSanitizer, test ${test}: ${total} report(s), ${distinct.length} distinct: ${quoted}${more} (logs: target/tsan/logs/)`)
  }
  if (r.status !== 0 && violations.length === 0) violations.push(`tsan.sh exit status ${r.status ?? r.signal}: ${tail}`)

  const perBinary = Object.entries(figures.reportsByRound)
    .map(([bin, counts]) => `${bin} ${counts.filter((c) => c > 0).length}/${counts.length} rounds with reports`)
    .join(', ')
  return {
    figures,
    line: `${tests} tests (${rounds} rounds of the sink_table/gate/sink unit tests and hub_threads, std instrumented), ${failed} failed; ${found} reports not suppressed (${reports.length} distinct; ${perBinary}), ${suppressed} suppressed; build ${buildS} s, run ${runS} s`,
    violations,
    notRun,
  }
}
