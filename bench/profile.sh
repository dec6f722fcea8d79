#!/usr/bin/env bash
# Profiles the ugrpc echo server under h2load (the throughput scenario) with
# perf, or with callgrind when perf is unavailable (PROFILER=callgrind).
#   bench/profile.sh [CONNS] [STREAMS] [SECONDS]   -> build/bench/profile/*.txt
# Expects `make bench` (or bench/run.py) to have built build/bench/bin/ugrpc-echo
# and build/bench/echo-request.bin.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="${WORK:-$ROOT/build/bench}"
C="${1:-100}" M="${2:-10}" S="${3:-4}"
OUT="$W/profile"
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
H2=(taskset -c 1 h2load -D "$S" -c "$C" -m "$M" -d "$W/echo-request.bin" -H 'content-type: application/grpc'
  -H 'te: trailers' "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello")
if [[ "${PROFILER:-perf}" == perf ]] && command -v perf >/dev/null; then
  taskset -c 0 "$W/bin/ugrpc-echo" "$PORT" >/dev/null &
  pid=$!
  sleep 0.5
  perf record -q -F 999 -g -p "$pid" -o "$OUT/perf.data" -- sleep "$((S + 1))" 2>/dev/null &
  rec=$!
  sleep 0.3
  "${H2[@]}" | grep -E 'req/s|succeeded' || true
  wait "$rec" || true
  kill -TERM "$pid"; wait "$pid" || true
  perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' |
    head -40 >"$OUT/perf-symbols.txt"
  perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep '%' |
    head -15 >"$OUT/perf-dso.txt"
  echo "wrote $OUT/perf-symbols.txt $OUT/perf-dso.txt"
else
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$W/bin/ugrpc-echo" "$PORT" \
    >/dev/null 2>"$OUT/valgrind.log" &
  pid=$!
  sleep 2
  H2[4]=20000 && H2=(taskset -c 1 h2load -n 20000 -c "$C" -m "$M" -d "$W/echo-request.bin" -H 'content-type: application/grpc'
    -H 'te: trailers' "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello")
  "${H2[@]}" | grep -E 'req/s|succeeded' || true
  kill -TERM "$pid"; wait "$pid" || true
  callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -60 >"$OUT/callgrind.txt"
  echo "wrote $OUT/callgrind.txt"
fi
