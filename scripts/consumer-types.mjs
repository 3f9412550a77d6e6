// Type-checks __test__/consumer (an app with strict settings: lib ES2022,
// exactOptionalPropertyTypes, noUncheckedIndexedAccess, noUnused*, no
// "types": ["node"], skipLibCheck false) against this checkout installed the
// way `npm install <path to the checkout>` installs it: a temp app whose
// node_modules/ffi-events links to the checkout. Builds dist/ first
// (scripts/build-ts.mjs), so that the declarations checked are those of the
// current sources. Fails on any error, and when the app's program holds a
// file of the package that is not a .d.ts (the package's .ts sources must
// never be checked under an app's settings).
//
//   node scripts/consumer-types.mjs        # part of npm run typecheck
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CONSUMER = join(ROOT, '__test__', 'consumer')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-ts.mjs')], { stdio: 'inherit' })
if (build.status !== 0) process.exit(1)

const app = mkdtempSync(join(tmpdir(), 'ffi-events-consumer-types-'))
let failed = false
try {
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'ffi-events-path-consumer', private: true, dependencies: { 'ffi-events': `file:${ROOT}` } }, null, 2),
  )
  mkdirSync(join(app, 'node_modules'))
  symlinkSync(ROOT, join(app, 'node_modules', 'ffi-events'), process.platform === 'win32' ? 'junction' : 'dir')
  for (const file of readdirSync(CONSUMER)) copyFileSync(join(CONSUMER, file), join(app, file))

  for (const config of ['tsconfig.json', 'tsconfig.commonjs.json']) {
    const run = (extra) => spawnSync(process.execPath, [TSC, '-p', join(app, config), ...extra], { cwd: app, encoding: 'utf8' })
    const check = run([])
    if (check.status !== 0) {
      process.stdout.write(check.stdout + check.stderr)
      console.error(`FAIL __test__/consumer/${config}: tsc found errors (above)`)
      failed = true
      continue
    }
    const files = run(['--listFilesOnly']).stdout.split('\n').map((f) => f.trim()).filter(Boolean)
    // tsc lists files by their real paths, with '/' separators.
    const root = ROOT.split(sep).join('/') + '/'
    const fromPackage = files.filter((f) => f.startsWith(root) && !f.startsWith(`${root}node_modules/`))
    const sources = fromPackage.filter((f) => !f.endsWith('.d.ts'))
    if (sources.length > 0 || fromPackage.length === 0) {
      console.error(`FAIL __test__/consumer/${config}: the app's program holds ${sources.length > 0 ? sources.join(', ') : 'no file of the package'}`)
      failed = true
      continue
    }
    const names = fromPackage.map((f) => f.slice(root.length)).join(' ')
    console.log(`ok   __test__/consumer/${config}: no errors; the package's files in the app's program: ${names}`)
  }
} finally {
  rmSync(app, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
