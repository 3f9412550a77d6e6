#!/usr/bin/env bash
# Runs the Node-API binding's unsafe code under valgrind memcheck: batch
# buffers, the threadsafe function, the env cleanup hook, finalizers, worker
# exit and the C sink (stress/napi-memcheck.mjs drives them).
#
# The addon is built here, in its own target dir (target/memcheck): release
# (as shipped: LTO, opt-level 3) plus debug info for readable stacks, debug
# assertions and overflow checks. Node runs with --jitless, so that memcheck
# never has to follow code V8 writes at run time.
#
# Fails (exit 1) on any memcheck error, and on any leak definitely lost with
# an ffi-events frame in its stack. stress/napi-memcheck.supp may hold
# suppressions for Node's and V8's own noise only: a suppression that names
# an ffi-events frame fails the run too. Prints one summary line:
#   napi-memcheck: errors=N ffi_errors=N ffi_leaks=N ffi_definitely_lost=NB ...
# (errors: every memcheck error left after the suppressions; ffi_*: those
# and the definite leaks with an ffi-events frame).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if ! command -v valgrind >/dev/null; then
  echo "napi-memcheck: not run: valgrind is not installed"
  exit 1
fi
started=$(date +%s)
target="$root/target/memcheck"
supp="$root/stress/napi-memcheck.supp"
if grep -v '^#' "$supp" | grep -Eiq 'ffi_events|ffi-events'; then
  echo "napi-memcheck: $supp names ffi-events frames; suppressions are for Node/V8 noise only"
  exit 1
fi

CARGO_TARGET_DIR="$target" CARGO_PROFILE_RELEASE_DEBUG=true \
  CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
  cargo build -q -p ffi-events-napi --release
addon="$target/ffi-events-memcheck.node"
cp "$target/release/libffi_events_napi.so" "$addon"
built=$(date +%s)

log="$target/napi-memcheck.log"
out="$target/napi-memcheck.out"
rc=0
valgrind --tool=memcheck --error-exitcode=97 --track-origins=yes \
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=none \
  --num-callers=40 --suppressions="$supp" --log-file="$log" \
  node --jitless --expose-gc stress/napi-memcheck.mjs "$addon" >"$out" 2>&1 || rc=$?

# One record per block of the log (blank once the `==pid==` prefix is
# gone); a block with an ffi-events frame (Rust paths ffi_events::,
# ffi_events_napi::, the C entry points ffi_events_*, or the addon file) is
# ours.
summary=$(sed -E 's/^==[0-9]+== ?//' "$log" | awk '
  BEGIN { RS = ""; errors = 0; ffi = 0; leaks = 0; lost = 0 }
  {
    ours = ($0 ~ /ffi_events|ffi-events-memcheck\.node/)
    if ($0 ~ /definitely lost in/) {
      if (ours) { b = $1; gsub(/,/, "", b); lost += b + 0; leaks++ }
      next
    }
    if ($0 ~ /^(Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)/ || $0 ~ /\n(Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched free)/) {
      errors++
      if (ours) ffi++
    }
  }
  END { printf "errors=%d ffi_errors=%d ffi_leaks=%d ffi_definitely_lost=%dB", errors, ffi, leaks, lost }
')
reported=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo '?')
suppressed=$(grep -Eo 'suppressed: [0-9,]+ bytes in [0-9,]+ blocks' "$log" | tail -1 || true)
workload=$(grep -E '^napi-memcheck: ok' "$out" || true)
echo "napi-memcheck: ${summary} memcheck_error_summary=${reported} rc=${rc} (build $((built - started)) s, run $(( $(date +%s) - built )) s) ${suppressed:+[$suppressed]}"
echo "  ${workload:-workload printed no result}"
status=0
if [ "$rc" != 0 ] || [ "$reported" != 0 ] || [ -z "$workload" ] \
  || ! echo "$summary" | grep -q 'errors=0 ffi_errors=0 ffi_leaks=0 ffi_definitely_lost=0B'; then
  status=1
  echo "  FAILED: see $log and $out"
  tail -20 "$out" | sed 's/^/  | /'
fi
exit $status
