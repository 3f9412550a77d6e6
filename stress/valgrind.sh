#!/usr/bin/env bash
# Runs every test binary of `cargo test -p ffi-events` (unit tests and
# integration tests; doc tests are compiled by rustdoc and not covered) under
# valgrind memcheck, except the loom models (loom runs every thread on one OS
# thread of its own making; stress/loom.sh runs them). The binding's unsafe
# code runs under memcheck in stress/napi-memcheck.sh. Fails on any invalid read/write, use of uninitialised
# memory or definite leak. Prints one summary line per binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if ! command -v valgrind >/dev/null; then
  echo "valgrind: not installed, skipped"
  exit 0
fi
bins=$(cargo test -p ffi-events --no-run --message-format=json 2>/dev/null \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const l of s.split("\n")){if(!l)continue;const m=JSON.parse(l);if(m.reason==="compiler-artifact"&&m.executable&&m.profile&&m.profile.test)console.log(m.executable)}})')
logdir="$root/target/valgrind"
mkdir -p "$logdir"
status=0
for bin in $bins; do
  name=$(basename "$bin")
  case "$name" in loom_model-*) continue ;; esac
  log="$logdir/$name.log"
  # --test-threads=2 keeps the thread tests concurrent; valgrind serialises
  # threads anyway, so this only bounds the run time.
  if valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
      --errors-for-leak-kinds=definite --error-exitcode=97 --track-origins=yes \
      --log-file="$log" "$bin" --test-threads=2 >"$log.out" 2>&1; then
    rc=0
  else
    rc=$?
  fi
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo '?')
  definite=$(grep -Eo 'definitely lost: [0-9,]+ bytes' "$log" | tail -1 | grep -Eo '[0-9,]+' || echo 0)
  tests=$(grep -Eo 'test result: .*|[0-9]+ passed, [0-9]+ failed' "$log.out" | tail -1 || true)
  echo "valgrind: $name errors=$errors definitely_lost=${definite}B rc=$rc ($tests)"
  if [ "$rc" != 0 ] || [ "$errors" != 0 ]; then status=1; echo "  see $log"; fi
done
exit $status
