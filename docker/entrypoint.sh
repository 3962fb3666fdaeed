#!/usr/bin/env bash
# borgui's start-up: create missing keys, migrate, create the first admin, reinstall
# recorded system packages, then start the web server, the worker, or both.
#
#   entrypoint.sh [all|web|worker|prepare|COMMAND…]
#
# `all` (default) supervises gunicorn and a qcluster worker: when either exits, the other
# is stopped and the exit status is passed on, so the container restarts as a whole.
# `make run` uses this same script, with BIND=127.0.0.1:$PORT.
set -euo pipefail

cd "$(dirname "$0")/.."
ENTRYPOINT=$(pwd)/docker/entrypoint.sh
PYTHON=${PYTHON:-python}
PORT=${PORT:-8000}
BIND=${BIND:-0.0.0.0:$PORT}

prepare() {
    "$PYTHON" -m borgui.keys
    "$PYTHON" manage.py migrate --noinput
    "$PYTHON" manage.py ensure_admin
}

# Packages installed from the admin are gone in a recreated container: bring them back
# where hooks run (the worker). A failed reinstall is reported but does not stop the start.
reinstall_packages() {
    "$PYTHON" manage.py install_packages --missing || echo "entrypoint: reinstalling packages failed (see above)" >&2
}

web() {
    # gthread: a worker's heartbeat does not wait on the request, so a long download
    # (a streamed .tar.gz of a big archive) is never killed by --timeout (docs/archives.md).
    exec "$PYTHON" -m gunicorn borgui.wsgi --bind "$BIND" \
        --workers "${WEB_CONCURRENCY:-2}" --worker-class gthread --threads "${WEB_THREADS:-8}" --timeout "${WEB_TIMEOUT:-60}" --access-logfile - --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
}

worker() {
    exec "$PYTHON" manage.py qcluster
}

all() {
    (web) &
    local web_pid=$!
    (worker) &
    local worker_pid=$!
    trap 'kill -TERM "$web_pid" "$worker_pid" 2>/dev/null || true' TERM INT
    local status=0
    wait -n "$web_pid" "$worker_pid" || status=$?
    kill -TERM "$web_pid" "$worker_pid" 2>/dev/null || true
    # Every further signal (systemd signals each process, tini passes on its own) ends a
    # `wait` early; exiting then would end the container while the worker still cancels
    # its backup and runs the post steps (docs/stopping.md). So wait until both are gone.
    while kill -0 "$web_pid" 2>/dev/null || kill -0 "$worker_pid" 2>/dev/null; do
        wait "$web_pid" "$worker_pid" 2>/dev/null || true
    done
    exit "$status"
}

# In the image the container starts as root only to hand the app user the Docker socket's
# group (its GID differs from host to host), then runs everything as BORGUI_RUN_AS.
drop_privileges() {
    local user=$BORGUI_RUN_AS socket=/var/run/docker.sock
    case "${DOCKER_HOST:-}" in unix://*) socket=${DOCKER_HOST#unix://} ;; esac
    local group_option=--clear-groups
    if [ -S "$socket" ]; then
        group_option=--groups=$(stat -c %g "$socket")
    fi
    local data_dir=${BORGUI_DATA_DIR:-/data}
    mkdir -p "$data_dir"
    if [ "$(stat -c %U "$data_dir")" != "$user" ]; then
        chown -R "$user:" "$data_dir"
    fi
    HOME=$(getent passwd "$user" | cut -d: -f6) exec setpriv --reuid="$user" --regid="$(id -g "$user")" \
        "$group_option" --inh-caps=-all -- "$ENTRYPOINT" "$@"
}

if [ "$(id -u)" = 0 ] && [ -n "${BORGUI_RUN_AS:-}" ]; then
    drop_privileges "$@"
fi

mode=${1:-all}
case "$mode" in
    all|web|worker)
        prepare
        if [ "$mode" != web ]; then
            reinstall_packages
        fi
        echo "borgui: starting $mode"
        "$mode"
        ;;
    prepare)
        prepare
        ;;
    *)
        exec "$@"
        ;;
esac
