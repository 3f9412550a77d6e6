#!/usr/bin/env bash
# Runs every loom model (crates/ffi-events/tests/loom_model.rs) at its full
# bound, on the shipped source files: the wake-up handshake (src/wakeup.rs),
# the close gate (src/gate.rs), the registry and the liveness latch.
#
# Plain `cargo test` runs the wake-up and gate models with a small bound;
# this run adds --cfg loom (the registry and liveness models, and the full
# bounds), a release build in its own target dir, and
# FFI_EVENTS_LOOM_REQUIRED=1 so that a build without the models fails instead
# of passing. Exits non-zero when any model fails. Extra arguments go to the
# model binary (a substring of model names selects models);
# LOOM_MAX_PREEMPTIONS overrides every model's bound.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${FFI_EVENTS_LOOM_TARGET:-$root/target/loom}"
src="$target/src"
mkdir -p "$src"
for f in registry liveness; do
  # include! refuses inner doc comments; drop them, keep everything else.
  # Replaced only when the content changed: a new mtime would make cargo
  # rebuild the model (minutes) on every run.
  grep -v '^[[:space:]]*//!' "$root/crates/ffi-events/src/$f.rs" > "$src/$f.rs.new"
  if cmp -s "$src/$f.rs.new" "$src/$f.rs"; then rm "$src/$f.rs.new"; else mv "$src/$f.rs.new" "$src/$f.rs"; fi
done
cd "$root"
started=$(date +%s)
status=0
# `--no-run` builds the models without running them (CI builds first, so
# that the ava case that runs them waits on no compiler).
cargo_args=()
if [[ "${1:-}" == "--no-run" ]]; then
  cargo_args=(--no-run)
  shift
fi
FFI_EVENTS_LOOM_SRC="$src" FFI_EVENTS_LOOM_REQUIRED=1 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$target" \
  cargo test -p ffi-events --release --test loom_model "${cargo_args[@]}" -- "$@" || status=$?
echo "loom.sh: exit $status after $(( $(date +%s) - started )) s (build included)"
exit $status
