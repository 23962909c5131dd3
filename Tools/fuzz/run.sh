#!/usr/bin/env bash
# Builds the fuzz package (Tests/Fuzz) with libFuzzer's coverage instrumentation and AddressSanitizer, then runs
# every target (or those named in FUZZ_TARGETS) for FUZZ_SECONDS each over a working copy of its kept corpus,
# and prints the executions each made. New inputs stay in .build-fuzz/corpus/<target>; `make fuzz-merge` folds
# them, minimised, into Tests/Fuzz/Corpus. A crash leaves its input in .build-fuzz/crashes/<target>/.
#   FUZZ_SECONDS (default 60)   FUZZ_RUNS (stop a target after this many executions; default: no limit)
#   FUZZ_TARGETS (default: all)   FUZZ_SANITIZER (default address; swiftc has no -sanitize=undefined on Linux)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-address}
build=$root/.build-fuzz
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/clang
runtime=$(ls -d "$runtime"/*/lib/linux | head -1)/libclang_rt.fuzzer_no_main-x86_64.a
[ -f "$runtime" ] || { echo "no libFuzzer runtime at $runtime" >&2; exit 1; }
(cd Tests/Fuzz && swift build -c release --build-path "$build/$sanitizer" \
  -Xswiftc -sanitize=$sanitizer -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
  -Xswiftc -DFUZZING -Xswiftc -enable-testing -Xlinker "$runtime" -Xlinker -lstdc++ --product strata-fuzz)
binary=$build/$sanitizer/release/strata-fuzz
targets=${FUZZ_TARGETS:-$( ("$binary" 2>&1 || true) | sed -n "s/^targets: //p" | tr -d ,)}
export SWIFT_BACKTRACE=enable=no
printf '%-16s %14s %10s %8s\n' target executions exec/s corpus | tee "$build/report.txt"
for target in $targets; do
  mkdir -p "$build/corpus/$target" "$build/crashes/$target"
  cp -n Tests/Fuzz/Corpus/$target/* "$build/corpus/$target/" 2>/dev/null || true
  max=$(case $target in segment|records|client-protocol) echo 16384;; *) echo 4096;; esac)
  log=$build/$target.log
  status=0
  "$binary" "$target" -max_total_time="$seconds" -runs="${FUZZ_RUNS:--1}" -max_len="$max" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$target/" "$build/corpus/$target" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-16s %14s %10s %8s\n' "$target" "${runs:-?}" "${rate:-?}" "$(ls "$build/corpus/$target" | wc -l)" | tee -a "$build/report.txt"
  if [ "$status" != 0 ]; then echo "$target: FAILED (status $status), see $log and $build/crashes/$target/" >&2; tail -30 "$log" >&2; exit 1; fi
done
