#!/usr/bin/env bash
# Runs the loom model of the registry and the liveness latch
# (crates/ffi-events/tests/loom_model.rs) on the shipped source files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/target/loom/src"
mkdir -p "$src"
for f in registry liveness; do
  # include! refuses inner doc comments; drop them, keep everything else.
  grep -v '^[[:space:]]*//!' "$root/crates/ffi-events/src/$f.rs" > "$src/$f.rs"
done
cd "$root"
FFI_EVENTS_LOOM_SRC="$src" RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$root/target/loom" \
  cargo test -p ffi-events --release --test loom_model "$@"
