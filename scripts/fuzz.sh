#!/usr/bin/env bash
# Fuzz every target in fuzz/ (cargo-fuzz, nightly toolchain; docs/FUZZING.md).
#
#   bash scripts/fuzz.sh build            # build every target for the smoke runs (CI starts this early)
#   bash scripts/fuzz.sh smoke            # 10 s per target from the committed corpus, which stays untouched (CI)
#   bash scripts/fuzz.sh long 600 [T...]  # 600 s per target (or the named ones), corpus grown in place, then cmin
#
# Smoke builds are quick builds (opt-level 1, no debug info, in target/fuzz-smoke) with everything else as for the
# long runs (AddressSanitizer, coverage, the same targets): a smoke run replays the committed corpus and fuzzes
# briefly, it does not search for hours. A crash it finds names the function; for file and line, run the input
# again with cargo-fuzz's own build: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>. Smoke runs go FUZZ_JOBS (default 2) at a time, one core
# each. Long runs use cargo-fuzz's own release build in fuzz/target, one target at a time.
#
# Environment: FUZZ_LOGS (default target/fuzz-logs) keeps one log per target; FUZZ_CPU pins a long run to a core
# (taskset -c), so it leaves the other core free. Exit status 1 when any target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-smoke}
seconds=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$root/fuzz")
fi
logs=${FUZZ_LOGS:-$root/target/fuzz-logs}
mkdir -p "$logs"
pin=()
if [ -n "${FUZZ_CPU:-}" ]; then pin=(taskset -c "$FUZZ_CPU"); fi
smoke_dir="$root/target/fuzz-smoke"
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')

# Per-target flags: QR texts up to past the 4,296-character limit; the kiosk's detached scan threads are not
# leaks (docs/FUZZING.md, kiosk_json run 1).
flags_for() {
  case "$1" in
    qr_text|verify|presentation) echo "-max_len=4400" ;;
    kiosk_json) echo "-detect_leaks=0" ;;
    trust_bundle) echo "-max_len=8192" ;;
    *) echo "" ;;
  esac
}

if [ "$mode" = build ] || [ "$mode" = smoke ]; then
  # RUSTFLAGS come after cargo-fuzz's own flags, so -Cdebuginfo=0 wins over its line tables.
  RUSTFLAGS="-Cdebuginfo=0" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo +nightly fuzz build --fuzz-dir "$root/fuzz" \
    --target-dir "$smoke_dir" ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"}
fi
if [ "$mode" = build ]; then
  exit 0
fi

# One smoke run: the built binary on a scratch corpus (new inputs) and the committed one (only read).
smoke_one() {
  local t=$1 scratch start
  scratch=$(mktemp -d "/tmp/huren-fuzz-$t.XXXXXX")
  mkdir -p "$root/fuzz/artifacts/$t"
  start=$(date +%s)
  # shellcheck disable=SC2046
  if "$smoke_dir/$triple/release/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$root/fuzz/artifacts/$t/" $(flags_for "$t") "$scratch" "$root/fuzz/corpus/$t" \
      >"$logs/$t.log" 2>&1; then
    echo "== $t: smoke, ${seconds}s $(flags_for "$t") $(grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|stat::slowest_unit" \
      "$logs/$t.log" | tr '\n' ' ')($(( $(date +%s) - start ))s)"
    rm -rf "$scratch"
  else
    echo "== $t: FAILED: see $logs/$t.log"
    tail -40 "$logs/$t.log"
    rm -rf "$scratch"
    return 1
  fi
}

failed=()
if [ "$mode" = smoke ]; then
  jobs_max=${FUZZ_JOBS:-2}
  declare -A running=()
  for t in "${targets[@]}"; do
    while [ ${#running[@]} -ge "$jobs_max" ]; do
      rc=0
      wait -n -p done_pid || rc=$?
      if [ "$rc" -ne 0 ]; then failed+=("${running[$done_pid]}"); fi
      unset "running[$done_pid]"
    done
    smoke_one "$t" &
    running[$!]=$t
  done
  for pid in "${!running[@]}"; do
    wait "$pid" || failed+=("${running[$pid]}")
  done
else
  for t in "${targets[@]}"; do
    scratch=$(mktemp -d "/tmp/huren-fuzz-$t.XXXXXX")
    # shellcheck disable=SC2046
    set -- $(flags_for "$t")
    start=$(date +%s)
    echo "== $t: $mode, ${seconds}s $* ($(date -u +%H:%M:%S) UTC)"
    if (cd "$scratch" && "${pin[@]}" cargo +nightly fuzz run --fuzz-dir "$root/fuzz" \
          ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"} "$t" "$root/fuzz/corpus/$t" -- \
          -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 "$@") >"$logs/$t.log" 2>&1; then
      grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|stat::slowest_unit" \
        "$logs/$t.log" | tr '\n' ' '
      echo "($(( $(date +%s) - start ))s)"
    else
      echo "FAILED: see $logs/$t.log"
      tail -40 "$logs/$t.log"
      failed+=("$t")
    fi
    (cd "$scratch" && cargo +nightly fuzz cmin --fuzz-dir "$root/fuzz" "$t" -- "$@") >"$logs/$t.cmin.log" 2>&1 \
      || echo "cmin of $t failed: $logs/$t.cmin.log"
    echo "   corpus after cmin: $(find "$root/fuzz/corpus/$t" -type f | wc -l) files, $(du -sb "$root/fuzz/corpus/$t" | cut -f1) bytes"
    rm -rf "$scratch"
  done
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]}"
  exit 1
fi
