// Packs this machine's build into the two tarballs an app installs, as the
// registry would serve them: the main package (ffi-events-<version>.tgz) and
// this platform's package (ffi-events-<platform>-<version>.tgz, the .node
// file inside).
//
//   npm run build && npm run pack:local [-- --out-dir DIR]
//   cd /path/to/app && npm install /path/to/ffi-events-0.1.0.tgz /path/to/ffi-events-linux-x64-gnu-0.1.0.tgz
//
// 1. compiles the TypeScript API (scripts/build-ts.mjs);
// 2. copies the built ffi-events.<platform>.node into a staged copy of
//    npm/<platform> with `napi artifacts` (as the release workflow does with
//    downloaded binaries; the repository's npm/ is left as it is) and packs
//    it; its prepack script fails if the binary is not there;
// 3. packs the main package from a staged copy of exactly the files
//    `npm pack` takes (package.json "files"), whose package.json lists the
//    platform package in optionalDependencies as `file:<its tarball>` (what
//    `napi prepublish` does with registry versions when publishing).
// Progress goes to stderr; stdout gets the two tarballs' absolute paths,
// each on a line of its own, main package first, as the last lines.
// Tarballs go to packs/ at the repository root unless --out-dir says otherwise.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } })
const OUT = resolve(values['out-dir'] ?? join(ROOT, 'packs'))

const log = (line) => process.stderr.write(`${line}\n`)
class PackError extends Error {}
function fail(message) {
  throw new PackError(message)
}
/** Runs a command to completion; its output goes to stderr, or is returned with `capture`. */
function run(command, args, { cwd = ROOT, capture = false } = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', capture ? 'pipe' : process.stderr, process.stderr],
    shell: process.platform === 'win32' && !command.endsWith('.exe'),
  })
  if (result.status !== 0) {
    if (capture) process.stderr.write(result.stdout)
    fail(`${[command, ...args].join(' ')} (in ${cwd}) failed with ${result.status ?? result.signal}`)
  }
  return result.stdout
}
/** npm itself: the one running this script when it runs as `npm run pack:local`. */
function npm(args, cwd) {
  const cli = process.env.npm_execpath
  return cli !== undefined && cli.endsWith('.js') ? run(process.execPath, [cli, ...args], { cwd, capture: true }) : run('npm', args, { cwd, capture: true })
}

/** The napi-rs platform name of this process, as in `ffi-events-<platform>` (the rule of lib/load.ts). */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report?.getReport()
    const musl = report !== undefined && !report.header?.glibcVersionRuntime
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

try {
  pack()
} catch (error) {
  if (!(error instanceof PackError)) throw error
  log(`pack:local: ${error.message}`)
  process.exitCode = 1
}

function pack() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const platform = platformName()
  const binary = `${pkg.napi.binaryName}.${platform}.node`
  const platformDir = join(ROOT, 'npm', platform)
  if (!existsSync(join(platformDir, 'package.json'))) fail(`npm/${platform}/package.json is missing: no prebuilt package is configured for ${platform}`)
  const platformPkg = JSON.parse(readFileSync(join(platformDir, 'package.json'), 'utf8'))
  if (platformPkg.main !== binary) fail(`npm/${platform}/package.json has main ${platformPkg.main}, expected ${binary}`)
  for (const file of [binary, 'binding.js', 'binding.d.ts']) {
    if (!existsSync(join(ROOT, file))) fail(`${file} is missing: run 'npm run build' first (needs a Rust toolchain)`)
  }
  log(`platform ${platform}: ${binary} -> ${platformPkg.name}`)

  log('== TypeScript API -> dist/')
  run(process.execPath, [join(ROOT, 'scripts', 'build-ts.mjs')], { capture: true })

  mkdirSync(OUT, { recursive: true })
  const stage = mkdtempSync(join(tmpdir(), 'ffi-events-pack-'))
  try {
    log(`== napi artifacts: ${binary} -> npm/${platform} (staged copy)`)
    // `napi artifacts` wants a binary for every configured target: the staged
    // package.json keeps only the target whose platform name is this one.
    const napiTargets = pkg.napi.targets.filter((target) => {
      const [arch, , os, abi] = target.split('-')
      const a = { x86_64: 'x64', aarch64: 'arm64' }[arch] ?? arch
      const name = os === 'darwin' ? `darwin-${a}` : os === 'windows' ? `win32-${a}-${abi}` : `${os}-${a}-${abi}`
      return name === platform
    })
    if (napiTargets.length !== 1) fail(`package.json napi.targets has no single target for ${platform}`)
    writeFileSync(join(stage, 'package.json'), JSON.stringify({ ...pkg, napi: { ...pkg.napi, targets: napiTargets } }, null, 2))
    cpSync(platformDir, join(stage, 'npm', platform), { recursive: true })
    mkdirSync(join(stage, 'artifacts'))
    copyFileSync(join(ROOT, binary), join(stage, 'artifacts', binary))
    const napi = join(dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js')
    run(process.execPath, [napi, 'artifacts', '--cwd', stage, '--output-dir', 'artifacts', '--npm-dir', 'npm'])
    if (!existsSync(join(stage, 'npm', platform, binary))) fail(`napi artifacts did not copy ${binary} into npm/${platform}`)

    log(`== npm pack ${platformPkg.name} (its prepack script checks for ${binary})`)
    const [platformPack] = JSON.parse(npm(['pack', '--json', '--pack-destination', OUT], join(stage, 'npm', platform)))
    if (!platformPack.files.some((f) => f.path === binary)) fail(`${platformPack.filename} lacks ${binary}`)
    const platformTgz = join(OUT, platformPack.filename)

    log(`== npm pack ${pkg.name}, optionalDependencies: ${platformPkg.name} from ${platformPack.filename}`)
    const [listing] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT))
    const main = join(stage, 'main')
    // The main package carries no binary: the platform package does. (A
    // checkout's built binary is in "files" for installs from git, whose
    // `prepare` builds it in the clone.)
    for (const { path } of listing.files.filter((f) => !f.path.endsWith('.node'))) {
      mkdirSync(dirname(join(main, path)), { recursive: true })
      copyFileSync(join(ROOT, path), join(main, path))
    }
    const mainPkg = { ...pkg, optionalDependencies: { [platformPkg.name]: `file:${platformTgz.split('\\').join('/')}` } }
    writeFileSync(join(main, 'package.json'), `${JSON.stringify(mainPkg, null, 2)}\n`)
    // No lifecycle scripts: everything is built, and `prepare` would rebuild.
    const [mainPack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', OUT], main))
    const mainTgz = join(OUT, mainPack.filename)
    const stray = mainPack.files.map((f) => f.path).filter((p) => p.endsWith('.node') || (p.endsWith('.ts') && !p.endsWith('.d.ts')))
    if (stray.length > 0) fail(`${mainPack.filename} contains ${stray.join(', ')}`)

    log(`${mainPack.filename}: ${mainPack.entryCount} files, ${mainPack.size} bytes`)
    log(`${platformPack.filename}: ${platformPack.entryCount} files, ${platformPack.size} bytes`)
    log(`install both into an app: npm install ${mainTgz} ${platformTgz}`)
    process.stdout.write(`${mainTgz}\n${platformTgz}\n`)
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}
