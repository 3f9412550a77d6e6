#!/usr/bin/env bash
# Installs the packed packages the way a user gets them from the registry, on
# a machine without a Rust toolchain, and uses them from CommonJS, ESM and
# TypeScript.
#
#   npm run build && bash scripts/consumer-test.sh
#
# What it does:
#   1. checks that packing a platform package without its binary fails (the
#      prepack script of every npm/<platform>/package.json);
#   2. packs both tarballs with `npm run pack:local` (scripts/pack-local.mjs:
#      the built ffi-events.<platform>.node goes into a staged copy of
#      npm/<platform> with `napi artifacts`; the main package lists it in
#      optionalDependencies) and checks the main tarball's file list (dist/,
#      no .node, no .ts sources);
#   3. installs both tarballs into a fresh temp project (cbor-x and
#      @types/node come from the registry) with a PATH that has no cargo and
#      no rustc;
#   4. require()s it from CommonJS and receives native ticker events, checks
#      that the binding was loaded from the platform package;
#   5. imports it from ESM and receives native ticker events;
#   6. type-checks a TypeScript file that uses the typed API, with
#      module=nodenext (package "exports") and module=commonjs (node10), with
#      the repository's own TypeScript, and the strict app of __test__/consumer
#      (no "types": ["node"]: the package's declarations reference the app's
#      @types/node);
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

step "a platform package without its binary does not pack"
for dir in "$ROOT"/npm/*/; do
  name="$(basename "$dir")"
  mkdir -p "$TMP/empty/$name"
  cp "$dir/package.json" "$TMP/empty/$name/"
  if (cd "$TMP/empty/$name" && npm pack --dry-run >"$TMP/empty/$name.log" 2>&1); then
    cat "$TMP/empty/$name.log"
    fail "npm pack of npm/$name without its .node succeeded"
  fi
  grep -q "is missing: this package would hold no binary" "$TMP/empty/$name.log" || { cat "$TMP/empty/$name.log"; fail "npm/$name: no prepack message"; }
done
ok "npm pack fails in each of: $(cd "$ROOT/npm" && echo */ | tr -d /)"

step "npm run pack:local"
[[ -f "$ROOT/$BINARY" && -f "$ROOT/binding.js" ]] || fail "$BINARY or binding.js is missing: run 'npm run build' first"
node "$ROOT/scripts/pack-local.mjs" --out-dir "$TMP/packs" >"$TMP/pack.out" 2>"$TMP/pack.log" || { cat "$TMP/pack.log"; fail "pack:local"; }
MAIN_TGZ="$(tail -n2 "$TMP/pack.out" | head -n1)"
PLAT_TGZ="$(tail -n1 "$TMP/pack.out")"
[[ -f "$MAIN_TGZ" && -f "$PLAT_TGZ" ]] || { cat "$TMP/pack.log" "$TMP/pack.out"; fail "pack:local printed no tarball paths"; }
tar -tzf "$MAIN_TGZ" | sed 's|^package/||' | sort >"$TMP/main-files.txt"
for f in package.json dist/index.js dist/index.d.ts dist/binding.d.ts binding.js binding.d.ts dist/lib/hub.js dist/lib/hub.d.ts dist/lib/load.js dist/lib/sources.js dist/lib/sources.d.ts dist/lib/types.d.ts; do
  grep -qx "$f" "$TMP/main-files.txt" || fail "main tarball lacks $f"
done
if grep -E '\.node$|\.ts$' "$TMP/main-files.txt" | grep -v '\.d\.ts$'; then fail "main tarball contains binaries or TypeScript sources"; fi
if grep -E '^lib/|^index\.' "$TMP/main-files.txt"; then fail "main tarball contains files outside dist/"; fi
ok "$(basename "$MAIN_TGZ"): $(wc -l <"$TMP/main-files.txt") files: $(tr '\n' ' ' <"$TMP/main-files.txt")"
tar -xzOf "$MAIN_TGZ" package/package.json | grep -q "\"$PLATFORM_PKG\": \"file:$PLAT_TGZ\"" || fail "main tarball's optionalDependencies lack $PLATFORM_PKG"
tar -tzf "$PLAT_TGZ" | grep -qx "package/$BINARY" || fail "platform tarball lacks $BINARY"
ok "$(basename "$PLAT_TGZ"): $(tar -tzf "$PLAT_TGZ" | sed 's|^package/||' | tr '\n' ' ')"

step "install into a fresh project, with no cargo/rustc on PATH"
# PATH without cargo and rustc; node and npm come along. A folder that holds
# them and other commands too (/usr/bin on some systems) is replaced by a
# folder of links to its other commands.
CLEAN_PATH=""
IFS=: read -r -a entries <<<"$PATH"
n=0
for d in "${entries[@]}"; do
  [[ -n "$d" && -d "$d" ]] || continue
  if [[ -x "$d/cargo" || -x "$d/rustc" ]]; then
    n=$((n + 1))
    mkdir -p "$TMP/path/$n"
    for f in "$d"/*; do
      case "${f##*/}" in cargo | cargo-* | rustc | rustdoc | rustup | rust-*) continue ;; esac
      if [[ -x "$f" && ! -d "$f" ]]; then ln -s "$f" "$TMP/path/$n/"; fi
    done
    d="$TMP/path/$n"
  fi
  CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$d"
done
export PATH="$CLEAN_PATH"
if command -v cargo >/dev/null || command -v rustc >/dev/null; then fail "cargo/rustc still on PATH"; fi
command -v node >/dev/null || fail "node is not on the cleaned PATH"
ok "PATH without cargo/rustc; node $(node --version), npm $(npm --version)"
TYPES_NODE="$(node -p 'require(process.argv[1]).devDependencies["@types/node"]' "$ROOT/package.json")"
new_project "$TMP/app" ffi-events-consumer "$TMP/install.log" "$MAIN_TGZ" "$PLAT_TGZ" "@types/node@$TYPES_NODE"
[[ -f node_modules/ffi-events/dist/index.js && -f "node_modules/$PLATFORM_PKG/$BINARY" && -d node_modules/cbor-x ]] \
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
  assert.equal(s.emitted, s.delivered + s.refused + s.discarded + s.queued)
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
cp "$ROOT"/__test__/consumer/*.ts "$ROOT"/__test__/consumer/tsconfig*.json .
for config in tsconfig.json tsconfig.commonjs.json; do
  node "$TSC" -p "$config" || fail "tsc -p __test__/consumer/$config"
done
ok "__test__/consumer (strict, lib ES2022, \"types\": [], skipLibCheck false) type-checks with module nodenext and commonjs"

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
