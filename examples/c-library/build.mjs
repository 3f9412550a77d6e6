// Builds peer.c into build/libpeer.so (build/libpeer.dylib on macOS) with
// the system C compiler (`CC`, default `cc`). Prints the library's path.
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const LIBRARY = join(here, 'build', process.platform === 'darwin' ? 'libpeer.dylib' : 'libpeer.so')

export function build() {
  mkdirSync(dirname(LIBRARY), { recursive: true })
  const cc = process.env.CC || 'cc'
  const args = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-fPIC', '-fvisibility=hidden', '-pthread']
  args.push(process.platform === 'darwin' ? '-dynamiclib' : '-shared', '-o', LIBRARY, join(here, 'peer.c'))
  const result = spawnSync(cc, args, { stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`${cc} ${args.join(' ')} failed (${result.error?.message ?? result.status ?? result.signal})`)
  return LIBRARY
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(build())
