#!/usr/bin/env bash
# Runs the concurrent tests of the core crate under ThreadSanitizer: the unit
# tests of the sink table (src/sink_table.rs, `sink_table::tests`), the close
# gate (src/gate.rs, `gate::tests`) and the sink (src/sink.rs,
# `sink::tests`), and every test of tests/hub_threads.rs. Not the loom models
# (tests/loom_model.rs: loom runs its threads on one OS thread of its own;
# stress/loom.sh runs them), not the other unit tests, not the doc tests.
#
#   stress/tsan.sh [--no-run] [--rounds N]
#
# Exits 0 when every test passed and ThreadSanitizer reported nothing that
# stress/tsan.supp does not suppress; 1 on any such report, a failed test or
# a build error; 3 when this machine lacks what the run needs (the reason is
# printed on a line starting with `tsan: unsupported:`; stress/cases/tsan.mjs
# reports the case NOT RUN then). `--no-run` only builds. `--rounds N` runs
# every test binary N times: whether a racy interleaving happens depends on
# the schedule. Prints the tests run, the reports (each once, with its first
# frames in this crate) and the build and run times; full logs go to
# target/tsan/logs/.
#
# What it needs (Debian 12 packages; root: `apt-get update && apt-get install
# -y rustc-web cargo-web rust-web-src libclang-rt-22-dev`):
#   rustc-web, cargo-web  /usr/bin/rustc and /usr/bin/cargo (1.96; rustc-web
#                         brings llvm-22, whose llvm-symbolizer names the
#                         frames of the reports)
#   rust-web-src          the sources of std at exactly the rustc's version
#                         (/usr/lib/rustlib/src/rust/library), for -Zbuild-std
#   libclang-rt-22-dev    the ThreadSanitizer runtime of the rustc's LLVM
#                         major version (Debian's rustc ships none)
# The first build also fetches std's own dependencies from crates.io.
#
# How it builds: std, alloc, core and libtest are rebuilt from those sources
# with the sanitizer (-Zbuild-std, RUSTC_BOOTSTRAP=1 for the -Z flags), so
# that ThreadSanitizer sees every synchronisation std does: a std Mutex or
# channel built on futexes, thread parking, and Arc's last drop (alloc uses
# an acquire load instead of an acquire fence under `cfg(sanitize =
# "thread")`). With the prebuilt, uninstrumented std those all look like
# missing happens-before edges, and data behind a std Mutex of ours shows up
# as racy. -Zexternal-clangrt with -Zpre-link-arg links the runtime from
# libclang-rt-22-dev the way rustc links its own (whole archive, first, with
# its dynamic-symbol list). `--target` keeps RUSTFLAGS off build scripts and
# proc macros; target/tsan keeps the normal build from being invalidated.
# A cold build takes 3.5 to 4.5 minutes here (std is built too).
#
# The test binaries are run directly rather than by `cargo test`: one
# `cargo test` applies the same name filter to every binary, and the lib
# binary holds the unit tests of every module. The tests of one binary run
# one at a time (--test-threads=1): the sink-table tests share the
# process-wide table.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${FFI_EVENTS_TSAN_TARGET:-$root/target/tsan}"
supp="$root/stress/tsan.supp"
logdir="$target_dir/logs"
rustc_bin=/usr/bin/rustc
cargo_bin=/usr/bin/cargo
# Unit-test modules of the lib binary that run; every test of hub_threads runs.
lib_modules=(sink_table::tests:: gate::tests:: sink::tests::)

no_run=0
rounds=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-run) no_run=1 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    *) echo "usage: stress/tsan.sh [--no-run] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "tsan: --rounds must be a positive integer" >&2; exit 2; }

unsupported() {
  echo "tsan: unsupported: $*"
  exit 3
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
seconds() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

cd "$root"
command -v node >/dev/null || unsupported "node not installed (reads cargo's JSON output)"
[[ -x $rustc_bin ]] || unsupported "$rustc_bin missing (Debian package rustc-web)"
[[ -x $cargo_bin ]] || unsupported "$cargo_bin missing (Debian package cargo-web)"
rustc_vv="$("$rustc_bin" -vV)"
triple="$(sed -n 's/^host: //p' <<<"$rustc_vv")"
release="$(sed -n 's/^release: //p' <<<"$rustc_vv")"
llvm_major="$(sed -n 's/^LLVM version: \([0-9]*\).*/\1/p' <<<"$rustc_vv")"
case "$triple" in
  x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
  *) unsupported "ThreadSanitizer runs here only on x86_64/aarch64 Linux (gnu), host is $triple" ;;
esac
sysroot="$("$rustc_bin" --print sysroot)"
[[ -f $sysroot/lib/rustlib/src/rust/library/std/Cargo.toml ]] \
  || unsupported "no std sources under $sysroot/lib/rustlib/src/rust/library (Debian package rust-web-src, same version as rustc-web)"
# std's sources must be the rustc's own: a std of another version does not
# build, or builds differently.
if command -v dpkg-query >/dev/null; then
  have_rustc="$(dpkg-query -W -f='${Version}' rustc-web 2>/dev/null || true)"
  have_src="$(dpkg-query -W -f='${Version}' rust-web-src 2>/dev/null || true)"
  [[ -n $have_rustc && $have_rustc == "$have_src" ]] \
    || unsupported "rust-web-src ${have_src:-not installed} does not match rustc-web ${have_rustc:-not installed}"
fi
rt="/usr/lib/llvm-$llvm_major/lib/clang/$llvm_major/lib/linux/libclang_rt.tsan-${triple%%-*}.a"
[[ -f $rt && -f $rt.syms ]] || unsupported "$rt missing: the ThreadSanitizer runtime of LLVM $llvm_major (Debian package libclang-rt-$llvm_major-dev)"
symbolizer="/usr/lib/llvm-$llvm_major/bin/llvm-symbolizer"
[[ -x $symbolizer ]] || unsupported "$symbolizer missing (Debian package llvm-$llvm_major)"
flags="-Zsanitizer=thread -Zexternal-clangrt -Zpre-link-arg=-Wl,--whole-archive,$rt,--no-whole-archive,--dynamic-list=$rt.syms"
grep -Eiq '^[[:space:]]*[a-z_]+:.*(ffi_events|ffi-events|hub_threads)' "$supp" \
  && { echo "tsan: $supp names this crate: suppressions are for std-internal reports only"; exit 1; }
mkdir -p "$logdir"
export RUSTC_BOOTSTRAP=1 RUSTC="$rustc_bin"
tsan_options="suppressions=$supp print_suppressions=1 halt_on_error=0 exitcode=66 external_symbolizer_path=$symbolizer ${TSAN_OPTIONS:-}"

# Probe: does a program linked with this runtime run here? (The prebuilt std
# is enough for that.) A failure here is the machine's (a runtime that does
# not link, a kernel whose address layout the runtime cannot map), not this
# crate's; it costs a second, not the build of std.
probe="$target_dir/probe"
mkdir -p "$probe"
cat >"$probe/probe.rs" <<'EOF'
fn main() {
    let t = std::thread::spawn(|| 1 + 1);
    assert_eq!(t.join().unwrap(), 2);
}
EOF
# shellcheck disable=SC2086 # $flags is several flags
if ! "$rustc_bin" $flags -Cunsafe-allow-abi-mismatch=sanitizer --target "$triple" --edition 2021 \
    -o "$probe/probe" "$probe/probe.rs" >"$probe/build.log" 2>&1; then
  unsupported "rustc $release cannot link with $rt: $(grep -m1 -E '^error|undefined reference' "$probe/build.log" || tail -1 "$probe/build.log")"
fi
if ! TSAN_OPTIONS="$tsan_options" "$probe/probe" >"$probe/run.log" 2>&1; then
  unsupported "a program built with ThreadSanitizer does not run here: $(grep -m1 -E 'FATAL|ERROR|error' "$probe/run.log" || tail -1 "$probe/run.log")"
fi

started=$(now_ms)
build_log="$logdir/build.log"
if ! RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target_dir" \
    "$cargo_bin" test -Zbuild-std -p ffi-events --target "$triple" --lib --test hub_threads --no-run \
    --message-format=json-render-diagnostics >"$logdir/build.json" 2>"$build_log"; then
  echo "tsan: build failed (see $build_log):"
  tail -30 "$build_log"
  exit 1
fi
build_ms=$(( $(now_ms) - started ))
# "<target name> <executable>" for each test binary built.
bins=$(node -e '
  let s = ""
  process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const l of s.split("\n")) {
      if (!l.startsWith("{")) continue
      const m = JSON.parse(l)
      if (m.reason === "compiler-artifact" && m.executable && m.profile?.test) {
        console.log(`${m.target.kind.includes("lib") ? "lib" : m.target.name} ${m.executable}`)
      }
    }
  })' <"$logdir/build.json")
echo "tsan: built in $(seconds "$build_ms") s (rustc $release, $triple, std built with -Zsanitizer=thread, runtime $rt)"
if [[ $(wc -l <<<"$bins") -ne 2 ]]; then
  echo "tsan: expected 2 test binaries (lib, hub_threads), got: $bins"
  exit 1
fi
if [[ $no_run == 1 ]]; then
  exit 0
fi

# Picks the tests of each binary by their full names (`--exact`), so that a
# module whose tests moved or were renamed fails here instead of running
# nothing.
declare -A selected
while read -r kind bin; do
  listed=$("$bin" --list --format terse 2>/dev/null | sed -n 's/: test$//p')
  if [[ $kind == lib ]]; then
    names=""
    for module in "${lib_modules[@]}"; do
      these=$(grep -E "^${module}" <<<"$listed" || true)
      if [[ -z $these ]]; then
        echo "tsan: no unit test under ${module%::} in the lib binary"
        exit 1
      fi
      names+="$these"$'\n'
    done
  else
    names="$listed"
  fi
  [[ -n ${names//[[:space:]]/} ]] || { echo "tsan: no test in $kind"; exit 1; }
  selected[$bin]="$names"
done <<<"$bins"

# One line per report: its kind and, for each of the two accesses, the
# first frame in this crate (or, when there is none, the frame that made the
# access, allocator/atomic/pointer plumbing skipped); then the test.
summarize() {
  awk -v root="$root/" '
    function strip_generics(s,   out, i, c, depth) {
      out = ""; depth = 0
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (depth == 0 && substr(s, i, 3) == "::<") { depth = 1; i += 2; continue }
        if (depth > 0) { if (c == "<") depth++; else if (c == ">") depth--; continue }
        out = out c
      }
      return out
    }
    function fn_of(line) {
      sub(/^ *#[0-9]+ /, "", line)
      if (!match(line, / \/[^ ]+:[0-9]+(:[0-9]+)? /)) return ""
      return substr(line, 1, RSTART - 1)
    }
    # `Arc<Entry<..>>` -> `Arc<..>`: type arguments, innermost first.
    function collapse(s) {
      while (match(s, /[A-Za-z0-9_]<[^<>]*>/)) s = substr(s, 1, RSTART) "\001" substr(s, RSTART + RLENGTH)
      gsub(/\001/, "<..>", s)
      return s
    }
    function frame(line,   fn, file) {
      fn = collapse(strip_generics(fn_of(line)))
      if (!match(line, / \/[^ ]+:[0-9]+(:[0-9]+)? /)) return ""
      file = substr(line, RSTART + 1, RLENGTH - 2)
      sub(/:[0-9]+$/, "", file)
      if (index(file, root) == 1) file = substr(file, length(root) + 1)
      else if (!sub(/^\/rustc\/[0-9a-f]+\//, "", file)) sub(/^.*\/lib\/rustlib\/src\/rust\//, "", file)
      return fn " (" file ")"
    }
    function plumbing(fn) {
      return fn ~ /^(<&?)?(alloc::alloc::|core::ptr::|core::mem::|core::profiling::|core::sync::atomic::|core::cell::|core::option::|\*mut |\*const )/ || fn == ""
    }
    function flush(   line, i) {
      if (kind == "") return
      line = kind ":"
      for (i = 1; i <= n; i++) {
        line = line (i > 1 ? " /" : "") " " acc[i] " in "
        line = line (ours[i] != "" ? ours[i] : (top[i] != "" ? top[i] : "?") " [no frame of this crate]")
      }
      if (test != "") line = line " [test " test "]"
      print line
      kind = ""; n = 0; test = ""; insec = 0
      delete acc; delete ours; delete top
    }
    /WARNING: ThreadSanitizer: / {
      flush(); kind = $0
      sub(/.*WARNING: ThreadSanitizer: /, "", kind); sub(/ \(pid=.*/, "", kind)
      next
    }
    kind == "" { next }
    /^SUMMARY: ThreadSanitizer/ { flush(); next }
    /^  [A-Za-z ]*(read|write|Read|Write) of size / {
      n++; s = $0; sub(/^  /, "", s); sub(/ of size .*/, "", s)
      acc[n] = tolower(s); ours[n] = ""; top[n] = ""; insec = 1
      next
    }
    /^  [A-Z]/ { insec = 0 }
    insec && /^ *#0 free / { acc[n] = acc[n] " (free)" }
    /^ *#[0-9]+ / {
      if (test == "" && ($0 ~ /::tests::/ || $0 ~ /\/tests\/[a-z_]+\.rs:/)) {
        t = $0; sub(/^ *#[0-9]+ /, "", t); sub(/ .*/, "", t); sub(/::\{closure.*/, "", t); test = t
      }
      if (!insec) next
      if (index($0, root "crates/") > 0 && ours[n] == "") ours[n] = frame($0)
      if (top[n] == "" && $0 !~ /compiler-rt/ && !plumbing(fn_of($0))) top[n] = frame($0)
    }
    END { flush() }
  ' "$@"
}

run_started=$(now_ms)
tests_run=0
tests_failed=0
reports=0
suppressed=0
status=0
report_lines="$logdir/reports.txt"
: >"$report_lines"
for round in $(seq 1 "$rounds"); do
  while read -r kind bin; do
    mapfile -t names < <(grep -v '^$' <<<"${selected[$bin]}")
    log="$logdir/$kind.$round.log"
    rc=0
    TSAN_OPTIONS="$tsan_options" \
      "$bin" --exact --test-threads=1 "${names[@]}" >"$log" 2>&1 || rc=$?
    passed=$(sed -nE 's/^test result: .*\. ([0-9]+) passed; ([0-9]+) failed.*/\1/p' "$log" | tail -1)
    failed=$(sed -nE 's/^test result: .*\. ([0-9]+) passed; ([0-9]+) failed.*/\2/p' "$log" | tail -1)
    found=$(grep -c 'WARNING: ThreadSanitizer:' "$log" || true)
    # "ThreadSanitizer: Matched N suppressions (pid=..):" then "<hits> <type>:<template>".
    hidden=$(awk '/ThreadSanitizer: Matched [0-9]+ suppressions/ { on = 1; next } on && /^[0-9]+ [a-z_]+:/ { s += $1; next } { on = 0 } END { print s + 0 }' "$log")
    tests_run=$(( tests_run + ${passed:-0} + ${failed:-0} ))
    tests_failed=$(( tests_failed + ${failed:-0} ))
    reports=$(( reports + found ))
    suppressed=$(( suppressed + hidden ))
    echo "tsan: round $round $kind: ${passed:-?} passed, ${failed:-?} failed, $found reports, $hidden suppressed, exit $rc ($log)"
    summarize "$log" >>"$report_lines"
    if [[ -z $passed ]]; then
      echo "  the test binary printed no result:"
      grep -E 'FATAL|panicked|error' "$log" | head -5 | sed 's/^/  | /'
      status=1
    fi
    if [[ ${failed:-0} != 0 ]]; then
      grep -E '^test .* FAILED$|panicked at' "$log" | head -10 | sed 's/^/  | /'
      status=1
    fi
    if [[ $found != 0 || ($rc != 0 && $rc != 66) ]]; then status=1; fi
  done <<<"$bins"
done
run_ms=$(( $(now_ms) - run_started ))
if [[ -s $report_lines ]]; then
  sort "$report_lines" | uniq -c | sort -rn | while read -r count line; do
    echo "tsan: report (x$count): $line"
  done
fi
echo "tsan: $tests_run tests run (2 binaries x $rounds round(s)), $tests_failed failed, $reports reports, $suppressed suppressed; build $(seconds "$build_ms") s, run $(seconds "$run_ms") s"
exit $status
