#!/usr/bin/env bash
# Cost of sampling.heap-counters on the demo daemon itself (not an allocation-bound loop): demod serves a fixed
# request stream (demo-client, 20,000 requests at ~2,000/s) plain, with the heapstats shim publishing every 100 ms
# (what Bisector uses) and every 1 ms (to make the publishing cost visible), in alternating runs. Reports the daemon's
# CPU time (utime + stime from /proc/PID/stat) and, with valgrind's callgrind, the share of the daemon's instructions
# spent in the shim's malloc/calloc/realloc/free wrappers (instruction counts do not depend on the machine's load).
# Usage: bench/heap-shim-demo.sh [RUNS]   (default 5). Needs gcc, make, valgrind.
set -euo pipefail
runs=${1:-5}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=$(mktemp -d /tmp/bisector-bench-shim-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$here/src/Bisector/Demo/Assets" "$work/demo"
make -s -C "$work/demo" >/dev/null
gcc -O2 -shared -fPIC -o "$work/heapstats.so" "$here/src/Bisector/Diagnosis/Assets/heapstats.c" -lpthread
hz=$(getconf CLK_TCK)
sock="$work/demod.sock"

# One run: prints the daemon's CPU seconds for the whole request stream.
cpu_run() {
  local interval=$1 pid
  rm -f "$sock"
  if [[ $interval == plain ]]; then
    "$work/demo/demod" "$sock" 2>/dev/null &
  else
    LD_PRELOAD="$work/heapstats.so" BISECTOR_HEAP_FILE="$work/heap" BISECTOR_HEAP_INTERVAL_MS=$interval \
      "$work/demo/demod" "$sock" 2>/dev/null &
  fi
  pid=$!
  "$work/demo/demo-client" "$sock" 20000 >/dev/null
  awk -v hz="$hz" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$pid/stat"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

declare -A cpu
for ((i = 0; i < runs; i++)); do
  for mode in plain 100 1; do cpu[$mode]+="$(cpu_run $mode) "; done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# Instructions under callgrind: the whole daemon vs the shim's wrapper functions.
rm -f "$sock"
LD_PRELOAD="$work/heapstats.so" BISECTOR_HEAP_FILE="$work/heap" BISECTOR_HEAP_INTERVAL_MS=100 \
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$work/demo/demod" "$sock" 2>/dev/null &
vg=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
"$work/demo/demo-client" "$sock" 20000 >/dev/null
# A signal can land while valgrind holds it back; repeat it until the daemon exits (it dumps the profile then).
for _ in $(seq 60); do kill -TERM "$vg" 2>/dev/null || break; sleep 1; done
wait "$vg" 2>/dev/null || true
read -r total shim < <(callgrind_annotate "$work/cg.out" 2>/dev/null | awk '
  /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
  /heapstats\.so\]/ { gsub(",", "", $1); shim += $1 }
  END { print total, shim + 0 }')

plain=$(median "${cpu[plain]}"); c100=$(median "${cpu[100]}"); c1=$(median "${cpu[1]}")
echo "## Heap counters on the demo daemon (bench/heap-shim-demo.sh, $runs alternating runs, $(date -u +%Y-%m-%d))"
echo
echo "demod serving 20,000 requests from demo-client (~10 s at ~2,000 requests/s); CPU = the daemon's utime + stime."
echo
echo "| setting | median CPU s | runs (s) | vs plain |"
echo "|---|---|---|---|"
for mode in plain 100 1; do
  m=$(median "${cpu[$mode]}")
  name=$([[ $mode == plain ]] && echo "plain (no shim)" || echo "shim, publish every $mode ms")
  awk -v n="$name" -v m="$m" -v p="$plain" -v r="${cpu[$mode]}" 'BEGIN { printf "| %s | %.3f | %s | %+.1f%% |\n", n, m, r, (m - p) / p * 100 }'
done
echo
awk -v t="$total" -v s="$shim" -v c1="$c1" -v c100="$c100" -v p="$plain" 'BEGIN {
  per = (c1 - p) / (10000 - 100);   # CPU s per extra publish: 1 ms publishes ~10,000 times in ~10 s, 100 ms ~100 times
  printf "- callgrind: the shim'"'"'s allocator wrappers are %.2f%% of the daemon'"'"'s %d instructions.\n", s / t * 100, t
  printf "- publishing: (1 ms − plain) / ~9,900 extra records = %.1f µs per record, i.e. %.3f%% of a core at one record per 100 ms.\n", per * 1e6, per * 10 * 100
}'
