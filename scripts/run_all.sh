#!/usr/bin/env bash
# Start web, Celery worker and Celery beat together on one machine; Ctrl-C stops all three.
#
# Each component runs in its own session (setsid), so Ctrl-C reaches this script only and the stop is
# orderly: TERM to all three, up to STOP_GRACE seconds for the worker to finish its current task,
# then the rest is killed. A task cut short is safe: jobs are acks_late and claimed by a live worker,
# so an interrupted import is picked up again (from the start, nothing half-written) on the next run.
set -euo pipefail
PORT="${1:-8000}"
STOP_GRACE="${STOP_GRACE:-10}"
BIN=.venv/bin
mkdir -p var/log
pids=()

start() {
    setsid "$@" &
    pids+=("$!")
}

stop() {
    trap - EXIT INT TERM
    echo
    echo "Stopping web, worker and beat…"
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 "$STOP_GRACE"); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 1
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "Stopped."
    exit 0
}
trap stop EXIT INT TERM

start $BIN/celery -A config worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1
start $BIN/celery -A config beat --loglevel=INFO --pidfile= >var/log/beat.log 2>&1
start $BIN/gunicorn config.wsgi:application --bind "127.0.0.1:${PORT}" --workers 2 --access-logfile - \
    --error-logfile - >var/log/web.log 2>&1
for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:${PORT}/healthz" >/dev/null 2>&1 && break
    sleep 1
done
echo
echo "ICI Rechallenge Registry is running at http://127.0.0.1:${PORT}/  (admin: /admin/, API docs: /api/docs/)"
echo "Demo logins (password for all: see var/demo-credentials.txt):"
cat var/demo-credentials.txt 2>/dev/null || true
echo "Logs: var/log/{web,worker,beat}.log — press Ctrl-C to stop."
wait
