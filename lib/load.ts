import { isMainThread } from 'node:worker_threads'

import type * as Generated from '../binding'
import { EventHubError } from './errors'

/** A module with the exports of the generated binding: `binding.js`, or your own addon that links `ffi-events-napi`. */
export type BindingModule = Pick<typeof Generated, 'NativeHub' | 'startTicker' | 'startBurst'>

/** The full generated binding of this package. */
export type OwnBinding = typeof Generated

/** The napi-rs platform name of this process, as in `ffi-events-<platform>`. */
function platformName(): string {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    // Without a report, assume glibc, as napi-rs's own loader does.
    const musl = report !== undefined && !report.header?.glibcVersionRuntime
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/**
 * The first error in the loader's chain that is not "module not found": a
 * binary that exists but failed to load (wrong libc, corrupt file, ...).
 */
function firstLoadFailure(error: unknown): Error | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 32; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (code !== undefined && code !== 'MODULE_NOT_FOUND') return e
  }
  return undefined
}

let loaded: OwnBinding | undefined

const closingAtExit = new WeakSet<object>()

/**
 * Closes every native sink of `binding`'s addon when the process exits, so
 * that a library thread still calling after `process.exit()` is refused
 * instead of reaching a threadsafe function whose environment is going
 * away. Main thread only: the sink table is process-wide, and a worker's
 * exit must not close the main thread's sinks (its own hubs close theirs
 * at its teardown). A binding without `closeAllSinks` (an older embedding
 * addon) is left alone.
 */
export function closeSinksAtExit(binding: object): void {
  const close = (binding as { closeAllSinks?: () => number }).closeAllSinks
  if (!isMainThread || typeof close !== 'function' || closingAtExit.has(binding)) return
  closingAtExit.add(binding)
  process.once('exit', () => close.call(binding))
}

/**
 * The generated loader (`binding.js`), loaded on first use. Its own error
 * names neither the platform nor the package; this one does, and keeps the
 * loader's error (with every attempt chained) as `cause`.
 */
export function defaultBinding(): OwnBinding {
  if (loaded !== undefined) return loaded
  try {
    loaded = require('../../binding') as OwnBinding
    closeSinksAtExit(loaded)
    return loaded
  } catch (cause) {
    const platform = platformName()
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require('../../package.json') as { version: string }
    const broken = firstLoadFailure(cause)
    throw new EventHubError(
      broken !== undefined
        ? `ffi-events found a native binding for ${platform} (Node.js ${process.version}) but could not load it: ` +
            `${broken.message}. Reinstall ffi-events-${platform}@${version}, or build from source with a Rust toolchain ` +
            `(npm run build).`
        : `ffi-events has no native binding for ${platform} (Node.js ${process.version}). ` +
            `Install the matching prebuilt package: npm install ffi-events-${platform}@${version}. ` +
            `It is an optional dependency of ffi-events; it is missing when optional dependencies were ` +
            `omitted (--omit=optional), when the lockfile was created on another platform ` +
            `(https://github.com/npm/cli/issues/4828: delete node_modules and package-lock.json, then npm install), ` +
            `or when no prebuilt package exists for this platform (build from source with a Rust toolchain: npm run build).`,
      { code: 'ERR_FFI_EVENTS_NO_BINDING', cause },
    )
  }
}
