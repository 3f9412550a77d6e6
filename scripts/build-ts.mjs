// Compiles the TypeScript API (index.ts, lib/*.ts) into dist/: dist/index.js,
// dist/index.d.ts, dist/lib/*.js and dist/lib/*.d.ts. An app only ever sees
// these .js and .d.ts files, never the sources, so its own compiler settings
// never re-check the library.
//
//   node scripts/build-ts.mjs                      # npm run build:ts
//   node scripts/build-ts.mjs --out-dir DIR --declarations-only
//
// Besides tsc's output it writes:
// - dist/binding.d.ts, `export * from '../binding'`: the declarations in
//   dist/lib import '../binding' as the sources in lib/ do, and the generated
//   binding (binding.js, binding.d.ts, next to the .node file that `napi
//   build --output-dir .` writes) stays at the package root;
// - `/// <reference types="node" />` at the top of dist/index.d.ts: the public
//   declarations use Node's `Buffer`, `Disposable` and `AsyncDisposable`, so
//   an app needs @types/node installed (an optional peer dependency), and then
//   needs no "types": ["node"] of its own.
// Files in the output folder that this run did not write are removed, and so
// are compiled files left in the package root and in lib/ by older builds.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    'out-dir': { type: 'string' },
    'declarations-only': { type: 'boolean', default: false },
  },
})
const defaultOut = join(ROOT, 'dist')
const outDir = resolve(values['out-dir'] ?? defaultOut)

const REFERENCE = '/// <reference types="node" />'
const SHIM = `// The generated binding's declarations (binding.d.ts at the package root,
// written by napi build), for the declarations in lib/ that import '../binding'.
export * from '../binding'
`

const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const args = [tsc, '-p', join(ROOT, 'tsconfig.json'), '--outDir', outDir, '--listEmittedFiles']
if (values['declarations-only']) args.push('--emitDeclarationOnly')
const run = spawnSync(process.execPath, args, { encoding: 'utf8' })
const emitted = new Set()
for (const line of run.stdout.split('\n')) {
  if (line.startsWith('TSFILE: ')) emitted.add(resolve(line.slice('TSFILE: '.length).trim()))
  else if (line.trim() !== '') console.log(line)
}
process.stderr.write(run.stderr)
if (run.status !== 0) {
  console.error(`tsc failed (exit ${run.status ?? run.signal})`)
  process.exit(1)
}

const entry = join(outDir, 'index.d.ts')
if (!emitted.has(entry)) throw new Error(`tsc did not write ${entry}`)
const declarations = readFileSync(entry, 'utf8')
if (!declarations.startsWith(REFERENCE)) writeFileSync(entry, `${REFERENCE}\n${declarations}`)
const shim = join(outDir, 'binding.d.ts')
writeFileSync(shim, SHIM)
emitted.add(shim)

/** Removes the files under `dir` that this run did not write, and folders left empty. */
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      prune(path)
      if (readdirSync(path).length === 0) rmdirSync(path)
    } else if (!emitted.has(path)) {
      rmSync(path)
    }
  }
}
prune(outDir)

if (outDir === defaultOut) {
  // Compiled files of the earlier layout, next to their sources.
  const sources = ['index.ts', ...readdirSync(join(ROOT, 'lib')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => join('lib', f))]
  for (const source of sources) {
    for (const ext of ['.js', '.d.ts']) {
      const old = join(ROOT, source.replace(/\.ts$/, ext))
      if (existsSync(old)) rmSync(old)
    }
  }
}
console.log(`${emitted.size} files in ${outDir}`)
