#!/usr/bin/env bash
# Start web, Celery worker and Celery beat together on one machine; Ctrl-C stops all three.
set -euo pipefail
PORT="${1:-8000}"
BIN=.venv/bin
mkdir -p var/log
trap 'kill 0' EXIT INT TERM
$BIN/celery -A config worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
$BIN/celery -A config beat --loglevel=INFO --pidfile= >var/log/beat.log 2>&1 &
$BIN/gunicorn config.wsgi:application --bind "127.0.0.1:${PORT}" --workers 2 --access-logfile - \
    --error-logfile - >var/log/web.log 2>&1 &
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
