import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { root } from './helpers'

test('npm run demo runs, prints plain lines without a TTY, and ends with balanced books', (t) => {
  const result = spawnSync(process.execPath, [join(root, 'examples', 'demo.mjs'), '--seconds', '2'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.is(result.status, 0, result.stderr)
  t.false(result.stdout.includes('\x1b['), 'no escape sequences when stdout is not a TTY')
  const frames = result.stdout.split('\n').filter((line) => line.startsWith('t='))
  t.true(frames.length >= 1, result.stdout)
  t.regex(frames[0], /fast=\d+\/s slow=\d+\/s burst=\d+\/s queued=\d+ .*latency p50/)
  t.regex(result.stdout, /emitted (\d+) = delivered \d+ \+ refused \d+ \+ discarded \d+ \+ queued \d+ {2}\(balanced\)/)
  t.regex(result.stdout, /hub closed: true, native threads still running: 0/)
  const perName = /events per name: fast (\d+), slow (\d+), burst (\d+)/.exec(result.stdout)
  t.truthy(perName, result.stdout)
  t.true(perName!.slice(1).every((n) => Number(n) > 0), `every source delivered: ${perName![0]}`)
})

test('the demo refuses a bad --seconds with a clear message', (t) => {
  const result = spawnSync(process.execPath, [join(root, 'examples', 'demo.mjs'), '--seconds', 'soon'], { cwd: root, encoding: 'utf8' })
  t.is(result.status, 2)
  t.regex(result.stderr, /--seconds must be a positive number, got soon/)
})
