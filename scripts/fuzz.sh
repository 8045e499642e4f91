#!/usr/bin/env bash
# Fuzz every target in fuzz/ (cargo-fuzz, nightly toolchain; docs/FUZZING.md).
#
#   bash scripts/fuzz.sh build            # build every target (CI starts this early, in the background)
#   bash scripts/fuzz.sh smoke            # 10 s per target from the committed corpus, which stays untouched (CI)
#   bash scripts/fuzz.sh long 600 [T...]  # 600 s per target (or the named ones), corpus grown in place, then cmin
#
# Environment: FUZZ_LOGS (default target/fuzz-logs) keeps one log per target; FUZZ_CPU pins the fuzzer to a core
# (taskset -c), so a long run leaves the other core free. Exit status 1 when any target finds a crash.
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

if [ "$mode" = smoke ] || [ "$mode" = build ]; then
  cargo +nightly fuzz build --fuzz-dir "$root/fuzz" ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"}
fi
if [ "$mode" = build ]; then
  exit 0
fi
failed=()
for t in "${targets[@]}"; do
  scratch=$(mktemp -d "/tmp/huren-fuzz-$t.XXXXXX")
  # shellcheck disable=SC2046
  set -- $(flags_for "$t")
  start=$(date +%s)
  if [ "$mode" = smoke ]; then
    # New inputs go to the scratch directory (the first corpus given); the committed corpus is only read.
    corpus=("$scratch" "$root/fuzz/corpus/$t")
  else
    corpus=("$root/fuzz/corpus/$t")
  fi
  echo "== $t: $mode, ${seconds}s $* ($(date -u +%H:%M:%S) UTC)"
  if (cd "$scratch" && "${pin[@]}" cargo +nightly fuzz run --fuzz-dir "$root/fuzz" \
        ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"} "$t" "${corpus[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 "$@") >"$logs/$t.log" 2>&1; then
    grep -E "^Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|stat::slowest_unit" \
      "$logs/$t.log" | tr '\n' ' '
    echo "($(( $(date +%s) - start ))s)"
  else
    echo "FAILED: see $logs/$t.log"
    tail -40 "$logs/$t.log"
    failed+=("$t")
  fi
  if [ "$mode" = long ]; then
    (cd "$scratch" && cargo +nightly fuzz cmin --fuzz-dir "$root/fuzz" "$t" -- "$@") >"$logs/$t.cmin.log" 2>&1 \
      || echo "cmin of $t failed: $logs/$t.cmin.log"
    echo "   corpus after cmin: $(find "$root/fuzz/corpus/$t" -type f | wc -l) files, $(du -sb "$root/fuzz/corpus/$t" | cut -f1) bytes"
  fi
  rm -rf "$scratch"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]}"
  exit 1
fi
