#!/usr/bin/env bash
# Installs the packed packages the way a user gets them from the registry, on
# a machine without a Rust toolchain, and uses them from CommonJS, ESM and
# TypeScript.
#
#   npm run build && bash scripts/consumer-test.sh
#
# What it does:
#   1. copies the built ffi-events.<platform>.node into a staged copy of
#      npm/<platform> with `napi artifacts` (what CI does with downloaded
#      artifacts), packs it, and packs the main package (`npm pack`, with
#      `files` from package.json; lifecycle scripts skipped: nothing is built);
#   2. checks the main tarball's file list (no .node, no .ts sources);
#   3. installs both tarballs into a fresh temp project (cbor-x comes from the
#      registry) with a PATH that has no cargo and no rustc;
#   4. require()s it from CommonJS and receives native ticker events, checks
#      that the binding was loaded from the platform package;
#   5. imports it from ESM and receives native ticker events;
#   6. type-checks a TypeScript file that uses the typed API, with
#      module=nodenext (package "exports") and module=commonjs (node10), with
#      the repository's own TypeScript and @types/node;
#   7. installs the main package alone and checks that the first hub fails
#      with ERR_FFI_EVENTS_NO_BINDING naming the platform package.
# Exits non-zero on the first failure. KEEP_TMP=1 keeps the temp directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/ffi-events-consumer.XXXXXX")"
if [[ "${KEEP_TMP:-}" != 1 ]]; then trap 'rm -rf "$TMP"' EXIT; fi
step() { printf '\n== %s\n' "$*"; }
# new_project DIR NAME LOG [npm install args...]: a fresh project in DIR (made
# the current directory) with the given packages installed.
new_project() {
  local dir="$1" name="$2" log="$3"
  shift 3
  mkdir -p "$dir"
  cd "$dir"
  printf '{ "name": "%s", "version": "1.0.0", "private": true }\n' "$name" >package.json
  npm install --no-audit --no-fund "$@" >"$log" 2>&1 || { cat "$log"; fail "npm install $*"; }
}
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

# The napi-rs platform name of this machine (the suffix of the platform package).
PLATFORM="$(node -e '
  const { platform, arch } = process
  let abi = ""
  if (platform === "linux") abi = process.report.getReport().header.glibcVersionRuntime ? "-gnu" : "-musl"
  else if (platform === "win32") abi = "-msvc"
  console.log(`${platform}-${arch}${abi}`)')"
BINARY="ffi-events.$PLATFORM.node"
PLATFORM_PKG="ffi-events-$PLATFORM"
echo "platform: $PLATFORM (package $PLATFORM_PKG)  temp: $TMP"

step "built files present"
for f in index.js index.d.ts binding.js binding.d.ts lib/hub.js lib/hub.d.ts "$BINARY"; do
  [[ -f "$ROOT/$f" ]] || fail "$f is missing: run 'npm run build' first"
done
[[ -f "$ROOT/npm/$PLATFORM/package.json" ]] || fail "npm/$PLATFORM/package.json is missing (napi create-npm-dirs)"
ok "index.js, binding.js, lib/*.js, $BINARY"

step "napi artifacts: $BINARY -> npm/$PLATFORM (staged copy)"
STAGE="$TMP/stage"
mkdir -p "$STAGE/npm" "$STAGE/artifacts"
cp "$ROOT/package.json" "$STAGE/"
# `napi artifacts` insists on an artifact for every configured target; this
# machine built one, so the staged package.json keeps only this platform's.
node -e '
  const fs = require("fs"), file = process.argv[1], platform = process.argv[2]
  const names = {
    "x86_64-unknown-linux-gnu": "linux-x64-gnu", "aarch64-unknown-linux-gnu": "linux-arm64-gnu",
    "x86_64-unknown-linux-musl": "linux-x64-musl", "x86_64-apple-darwin": "darwin-x64",
    "aarch64-apple-darwin": "darwin-arm64", "x86_64-pc-windows-msvc": "win32-x64-msvc",
  }
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"))
  pkg.napi.targets = pkg.napi.targets.filter((t) => names[t] === platform)
  if (pkg.napi.targets.length !== 1) throw new Error(`no napi.targets entry for ${platform}`)
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2))' "$STAGE/package.json" "$PLATFORM"
cp -R "$ROOT/npm/$PLATFORM" "$STAGE/npm/"
cp "$ROOT/$BINARY" "$STAGE/artifacts/"
"$ROOT/node_modules/.bin/napi" artifacts --cwd "$STAGE" --output-dir artifacts --npm-dir npm >"$TMP/artifacts.log" 2>&1 \
  || { cat "$TMP/artifacts.log"; fail "napi artifacts"; }
[[ -f "$STAGE/npm/$PLATFORM/$BINARY" ]] || { cat "$TMP/artifacts.log"; fail "napi artifacts did not copy $BINARY"; }
ok "$(grep -c Write "$TMP/artifacts.log" || true) file(s) written by napi artifacts"

step "npm pack"
mkdir -p "$TMP/packs"
MAIN_TGZ="$TMP/packs/$(cd "$ROOT" && npm pack --ignore-scripts --silent --pack-destination "$TMP/packs" | tail -n1)"
PLAT_TGZ="$TMP/packs/$(cd "$STAGE/npm/$PLATFORM" && npm pack --ignore-scripts --silent --pack-destination "$TMP/packs" | tail -n1)"
[[ -f "$MAIN_TGZ" && -f "$PLAT_TGZ" ]] || fail "npm pack produced no tarball"
tar -tzf "$MAIN_TGZ" | sed 's|^package/||' | sort >"$TMP/main-files.txt"
for f in package.json index.js index.d.ts binding.js binding.d.ts lib/hub.js lib/hub.d.ts lib/sources.js lib/sources.d.ts lib/types.d.ts; do
  grep -qx "$f" "$TMP/main-files.txt" || fail "main tarball lacks $f"
done
if grep -E '\.node$|\.ts$' "$TMP/main-files.txt" | grep -v '\.d\.ts$'; then fail "main tarball contains binaries or TypeScript sources"; fi
ok "$(basename "$MAIN_TGZ"): $(wc -l <"$TMP/main-files.txt") files: $(tr '\n' ' ' <"$TMP/main-files.txt")"
tar -tzf "$PLAT_TGZ" | grep -qx "package/$BINARY" || fail "platform tarball lacks $BINARY"
ok "$(basename "$PLAT_TGZ"): $(tar -tzf "$PLAT_TGZ" | sed 's|^package/||' | tr '\n' ' ')"

step "install into a fresh project, with no cargo/rustc on PATH"
# Keep only PATH entries without cargo and rustc; node and npm come along.
CLEAN_PATH=""
IFS=: read -r -a entries <<<"$PATH"
for d in "${entries[@]}"; do
  [[ -n "$d" && -d "$d" ]] || continue
  [[ -x "$d/cargo" || -x "$d/rustc" ]] && continue
  CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$d"
done
export PATH="$CLEAN_PATH"
if command -v cargo >/dev/null || command -v rustc >/dev/null; then fail "cargo/rustc still on PATH"; fi
command -v node >/dev/null || fail "node is not on the cleaned PATH"
ok "PATH without cargo/rustc; node $(node --version), npm $(npm --version)"
new_project "$TMP/app" ffi-events-consumer "$TMP/install.log" "$MAIN_TGZ" "$PLAT_TGZ"
[[ -f node_modules/ffi-events/index.js && -f "node_modules/$PLATFORM_PKG/$BINARY" && -d node_modules/cbor-x ]] \
  || fail "installed tree lacks ffi-events, $PLATFORM_PKG or cbor-x"
ls node_modules/ffi-events/*.node >/dev/null 2>&1 && fail "node_modules/ffi-events contains a .node file"
ok "installed: ffi-events $(node -p 'require("ffi-events/package.json").version'), $PLATFORM_PKG, cbor-x $(node -p 'require("cbor-x/package.json").version')"

step "CommonJS: require('ffi-events'), native ticker events"
cat >cjs.cjs <<'JS'
const assert = require('node:assert/strict')
const { EventHub, EventHubError, sources } = require('ffi-events')
;(async () => {
  const nativeModules = () => Object.keys(require.cache).filter((k) => /ffi-events[^\\/]*\.node$/.test(k))
  assert.equal(nativeModules().length, 0, 'the native addon loads with the first hub, not with the package')
  const hub = new EventHub()
  const loaded = nativeModules()
  assert.equal(loaded.length, 1, `one ffi-events .node loaded: ${loaded}`)
  assert.match(loaded[0], new RegExp(`node_modules[\\\\/]${process.env.PLATFORM_PKG}[\\\\/]`), 'loaded from the platform package')
  const ticks = []
  hub.on('tick', (tick, meta) => ticks.push({ ...tick, seq: meta.seq }))
  const done = new Promise((resolve) => hub.on('tick', (t) => t.n === 2 && resolve()))
  sources.ticker(hub, { name: 'tick', intervalMs: 5, count: 3 })
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('no ticks within 5 s')), 5000))])
  await hub.close()
  assert.deepEqual(ticks.map((t) => t.n), [0, 1, 2])
  assert.equal(typeof ticks[0].at, 'bigint')
  assert.throws(() => hub.on('tick', () => {}), EventHubError)
  const s = hub.stats()
  assert.equal(s.emitted, s.delivered + s.dropped + s.queued)
  console.log(`ok   CommonJS: 3 native ticks (seq ${ticks.map((t) => t.seq).join(',')}), binding from ${loaded[0].split(/node_modules[\\/]/).pop()}`)
})().catch((err) => {
  console.error('FAIL CommonJS:', err)
  process.exit(1)
})
JS
PLATFORM_PKG="$PLATFORM_PKG" node cjs.cjs

step "ESM: import { EventHub, sources } from 'ffi-events'"
cat >esm.mjs <<'JS'
import assert from 'node:assert/strict'
import { EventHub, sources } from 'ffi-events'
import ffiEvents from 'ffi-events'
assert.equal(ffiEvents.EventHub, EventHub, 'default import is the CommonJS exports object')
const hub = new EventHub()
const first = hub.waitFor('tick', { timeoutMs: 5000 })
const control = sources.ticker(hub, { name: 'tick', intervalMs: 5, count: 2 })
const tick = await first
assert.equal(tick.n, 0)
assert.equal(typeof tick.at, 'bigint')
const latencyUs = Number(process.hrtime.bigint() - tick.at) / 1000
control.stop()
await hub.close()
assert.equal(control.running, false)
console.log(`ok   ESM: native tick received (${latencyUs.toFixed(0)} µs after emit), ticker stopped`)
JS
node esm.mjs

step "TypeScript: type-check a file that uses the typed API"
TSC="$ROOT/node_modules/typescript/bin/tsc"
[[ -f "$TSC" ]] || fail "$TSC missing: npm ci at the repository root"
cat >typed.ts <<'TS'
import { EventHub, EventHubError, sources, type EventMeta, type Tick } from 'ffi-events'

type Events = {
  tick: Tick
  peer_connected: { id: string; addr: string }
}

export async function main(): Promise<number> {
  const hub = new EventHub<Events>({ capacity: 1024, overflow: 'reject', stallTimeoutMs: 5000 })
  hub.on('tick', (tick: Tick, meta: EventMeta) => {
    const n: number = tick.n
    const at: bigint = tick.at
    void [n, at, meta.seq]
  })
  hub.on('peer_connected', (peer) => peer.id.toUpperCase())
  hub.on('not_responding', (why) => why.reason)
  hub.onError((err: EventHubError) => err.code)
  // @ts-expect-error: unknown event name
  hub.on('nope', () => {})
  // @ts-expect-error: wrong payload type
  hub.emit('peer_connected', { id: 1 })
  const control = sources.ticker(hub, { name: 'tick', intervalMs: 10, count: 1 })
  const tick = await hub.waitFor('tick', { timeoutMs: 1000 })
  control.stop()
  await hub.close()
  return tick.n
}
TS
TYPES_ROOT="$ROOT/node_modules/@types"
node "$TSC" --noEmit --strict --skipLibCheck false --target es2022 --lib es2022,esnext.disposable \
  --module nodenext --moduleResolution nodenext --typeRoots "$TYPES_ROOT" --types node typed.ts \
  || fail "tsc (module nodenext)"
ok "tsc --module nodenext: typed.ts type-checks (incl. 2 @ts-expect-error)"
node "$TSC" --noEmit --strict --skipLibCheck false --target es2022 --lib es2022,esnext.disposable \
  --module commonjs --moduleResolution node10 --ignoreDeprecations 6.0 --typeRoots "$TYPES_ROOT" --types node typed.ts \
  || fail "tsc (module commonjs)"
ok "tsc --module commonjs: typed.ts type-checks"

step "without the platform package: a clear error naming it"
new_project "$TMP/bare" ffi-events-bare-consumer "$TMP/install-bare.log" --omit=optional "$MAIN_TGZ"
[[ ! -d "node_modules/$PLATFORM_PKG" ]] || fail "$PLATFORM_PKG was installed"
cat >bare.cjs <<'JS'
const assert = require('node:assert/strict')
const { EventHub } = require('ffi-events') // loads: the addon is needed only by the first hub
assert.throws(() => new EventHub(), (error) => {
  assert.equal(error.code, 'ERR_FFI_EVENTS_NO_BINDING')
  assert.ok(error.message.includes(`npm install ${process.env.PLATFORM_PKG}@`), error.message)
  assert.ok(error.cause instanceof Error, 'the loader error is kept as cause')
  console.log(`ok   ${error.message.split('. ')[0]}; ${error.message.split('. ')[1]}`)
  return true
})
JS
PLATFORM_PKG="$PLATFORM_PKG" node bare.cjs

printf '\nconsumer test passed (%s)\n' "$PLATFORM"
