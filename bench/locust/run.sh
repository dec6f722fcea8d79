#!/usr/bin/env bash
# Runs Locust against todo-api, as the original loadtest/locust/run.sh did,
# plus a headless mode that writes CSV and HTML reports.
#
# Environment:
#   TARGET_HOST    gRPC host:port (default 127.0.0.1:8000)
#   LOCUST_MODE    standalone (default) | master | worker | headless | distributed
#                  headless:    one process, no web UI, writes reports
#                  distributed: headless master + LOCUST_WORKERS local workers
#   LOCUST_MASTER  master host for workers (default 127.0.0.1)
#   MASTER_PORT    the master's port for workers (default 5557), in every mode
#   USERS SPAWN_RATE RUN_TIME   headless load shape (defaults 50, 25, 60s)
#   LOCUST_WORKERS workers in distributed mode (default 2); EXPECT_WORKERS for a
#                  headless master whose workers run elsewhere (Kubernetes)
#   TAGS           e.g. "walkthrough" for the walkthrough's GetTodos-only scenario
#   REPORT_DIR     where CSV (locust_stats.csv, ...) and report.html go (default ./reports)
#   LOCUST         the locust command (default: locust on PATH, else ../../.venv/bin/locust)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
LOCUST="${LOCUST:-$(command -v locust || echo "$HERE/../../.venv/bin/locust")}"
TARGET_HOST="${TARGET_HOST:-127.0.0.1:8000}"
MODE="${LOCUST_MODE:-standalone}"
PORT="${MASTER_PORT:-5557}"
REPORT_DIR="${REPORT_DIR:-$HERE/reports}"
USERS="${USERS:-50}" SPAWN_RATE="${SPAWN_RATE:-25}" RUN_TIME="${RUN_TIME:-60s}"
common=(-f "$HERE/locustfile.py" --host "$TARGET_HOST")
if [[ -n "${TAGS:-}" ]]; then read -ra tags <<<"$TAGS"; common+=(--tags "${tags[@]}"); fi
report=(--headless -u "$USERS" -r "$SPAWN_RATE" -t "$RUN_TIME" --stop-timeout 5
  --csv "$REPORT_DIR/locust" --html "$REPORT_DIR/report.html" --only-summary)

case "$MODE" in
  standalone) exec "$LOCUST" "${common[@]}" ;;
  master)
    if [[ -n "${EXPECT_WORKERS:-}" ]]; then
      mkdir -p "$REPORT_DIR"
      exec "$LOCUST" "${common[@]}" --master --master-bind-port "$PORT" \
        --expect-workers "$EXPECT_WORKERS" "${report[@]}"
    fi
    exec "$LOCUST" "${common[@]}" --master --master-bind-port "$PORT" ;;
  worker)
    exec "$LOCUST" "${common[@]}" --worker --master-host "${LOCUST_MASTER:-127.0.0.1}" --master-port "$PORT" ;;
  headless)
    mkdir -p "$REPORT_DIR"
    exec "$LOCUST" "${common[@]}" "${report[@]}" ;;
  distributed)
    mkdir -p "$REPORT_DIR"
    n="${LOCUST_WORKERS:-2}"
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
    for ((i = 0; i < n; i++)); do
      "$LOCUST" "${common[@]}" --worker --master-host 127.0.0.1 --master-port "$PORT" \
        >"$REPORT_DIR/worker-$i.log" 2>&1 &
      pids+=($!)
    done
    rc=0
    "$LOCUST" "${common[@]}" --master --master-bind-host 127.0.0.1 --master-bind-port "$PORT" \
      --expect-workers "$n" "${report[@]}" || rc=$?
    # The workers leave on the master's quit message; the trap stops any that
    # have not within 10 s.
    for ((t = 0; t < 100; t++)); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    exit "$rc" ;;
  *) echo "run.sh: unknown LOCUST_MODE '$MODE'" >&2; exit 2 ;;
esac
