"""The ready Docker templates of the script library (docs/docker-hooks.md#system-check, docs "Docker Hooks").

They ship with borgui: created by a data migration, marked ``is_template``, approved by
"borgui", and restored by ``manage.py recreate_templates`` when missing or changed. Each
is idempotent, takes the container from ``CONTAINER_NAME`` (default ``postgres``) and
documents its exit codes for a running, a stopped and a missing container:

    0    done, or nothing to do
    1    Docker failed: daemon unreachable, or a socket proxy refused the call (403; the
         script then names the proxy setting to enable)
    2    no container of that name
    3    (dump) the container is not running: nothing dumped, the previous dump is kept
    127  the docker CLI is not installed

``sync_templates`` works with the real models or with a migration's historical ones.
"""

import hashlib
from dataclasses import dataclass, field

APPROVER = "borgui"

_PRELUDE = r"""command -v docker >/dev/null 2>&1 || {
  echo "docker: command not found — install docker.io from Packages, or use an image that includes the Docker CLI" >&2
  exit 127
}

# The docker CLI, its messages passed on; when a socket proxy refuses a call (HTTP 403),
# one more line names the proxy setting it needs.
docker() {
  local err rc=0 needs
  err=$(mktemp)
  command docker "$@" 2>"$err" || rc=$?
  cat "$err" >&2
  if [ "$rc" -ne 0 ] && grep -Eq "403 Forbidden|received 403" "$err"; then
    case "$1" in
      ps | inspect) needs="CONTAINERS=1" ;;
      start) needs="POST=1 and ALLOW_START=1" ;;
      stop) needs="POST=1 and ALLOW_STOP=1" ;;
      restart) needs="POST=1 and ALLOW_RESTARTS=1" ;;
      exec) needs="CONTAINERS=1, POST=1 and EXEC=1" ;;
      *) needs="the API section 'docker $1' uses" ;;
    esac
    echo "borgui: the Docker socket proxy refused 'docker $1' (HTTP 403): enable $needs on the proxy" >&2
  fi
  rm -f "$err"
  return "$rc"
}

all=$(docker ps -a --format '{{.Names}}')
running=$(docker ps --format '{{.Names}}')
if ! grep -Fqx -- "$container" <<<"$all"; then
  echo "no container named $container (check CONTAINER_NAME)" >&2
  exit 2
fi
"""


def _body(header: str, variables: str, action: str) -> str:
    parts = ["#!/usr/bin/env bash", header.strip(), "set -euo pipefail", "", variables.strip(), "", _PRELUDE]
    return "\n".join(parts) + "\n" + action.strip() + "\n"


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str
    description: str


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    body: str
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)
    timeout: int = 300

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


CONTAINER = Parameter("CONTAINER_NAME", "postgres", "The container (its name).")
STOP_TIMEOUT = Parameter("STOP_TIMEOUT", "30", "Seconds the container gets to stop before Docker kills it.")

STOP = Template(
    name="docker-stop-container",
    description=(
        "Stop a container (attach as pre-backup, on_failure fail; start it again with docker-start-container, "
        "run_on always).\n"
        "Running: docker stop (SIGTERM, SIGKILL after STOP_TIMEOUT seconds), exit 0. "
        "Stopped: nothing to do, exit 0. Missing: exit 2. "
        "Docker unreachable or refused: exit 1 (behind a socket proxy it needs CONTAINERS=1, POST=1, ALLOW_STOP=1). "
        "No docker CLI: exit 127."
    ),
    body=_body(
        """
# borgui template: stop a container (pre-backup).
#   running → docker stop, exit 0 | stopped → nothing to do, exit 0 | missing → exit 2
#   Docker unreachable or refused → 1 | no docker CLI → 127
# Socket proxy: CONTAINERS=1 POST=1 ALLOW_STOP=1
""",
        """
container="${CONTAINER_NAME:-postgres}"
stop_timeout="${STOP_TIMEOUT:-30}"
""",
        """
if grep -Fqx -- "$container" <<<"$running"; then
  docker stop -t "$stop_timeout" "$container" >/dev/null
  echo "stopped $container"
else
  echo "$container is not running: nothing to stop"
fi
""",
    ),
    parameters=(CONTAINER, STOP_TIMEOUT),
)

START = Template(
    name="docker-start-container",
    description=(
        "Start a container (attach as post-backup with run_on always, so it comes back after a failed backup too).\n"
        "Running: nothing to do, exit 0. Stopped: docker start, exit 0. Missing: exit 2. "
        "Docker unreachable or refused: exit 1 (behind a socket proxy it needs CONTAINERS=1, POST=1, "
        "ALLOW_START=1). No docker CLI: exit 127."
    ),
    body=_body(
        """
# borgui template: start a container (post-backup, run_on always).
#   running → nothing to do, exit 0 | stopped → docker start, exit 0 | missing → exit 2
#   Docker unreachable or refused → 1 | no docker CLI → 127
# Socket proxy: CONTAINERS=1 POST=1 ALLOW_START=1
""",
        """
container="${CONTAINER_NAME:-postgres}"
""",
        """
if grep -Fqx -- "$container" <<<"$running"; then
  echo "$container is already running: nothing to start"
else
  docker start "$container" >/dev/null
  echo "started $container"
fi
""",
    ),
    parameters=(CONTAINER,),
)

RESTART = Template(
    name="docker-restart-container",
    description=(
        "Restart a container (e.g. post-backup, to pick up a fresh state).\n"
        "Running: docker restart, exit 0. Stopped: docker restart starts it, exit 0. Missing: exit 2. "
        "Docker unreachable or refused: exit 1 (behind a socket proxy it needs CONTAINERS=1, POST=1, "
        "ALLOW_RESTARTS=1). No docker CLI: exit 127."
    ),
    body=_body(
        """
# borgui template: restart a container.
#   running → docker restart, exit 0 | stopped → docker restart starts it, exit 0 | missing → exit 2
#   Docker unreachable or refused → 1 | no docker CLI → 127
# Socket proxy: CONTAINERS=1 POST=1 ALLOW_RESTARTS=1
""",
        """
container="${CONTAINER_NAME:-postgres}"
stop_timeout="${STOP_TIMEOUT:-30}"
""",
        """
was=stopped
if grep -Fqx -- "$container" <<<"$running"; then
  was=running
fi
docker restart -t "$stop_timeout" "$container" >/dev/null
echo "restarted $container (it was $was)"
""",
    ),
    parameters=(CONTAINER, STOP_TIMEOUT),
)

POSTGRES_DUMP = Template(
    name="docker-postgres-dump",
    description=(
        "Dump PostgreSQL with pg_dumpall through docker exec into DUMP_DIR/CONTAINER_NAME.sql (pre-backup; the "
        "docs' Safer Pattern: back up DUMP_DIR instead of stopping the database). The dump goes to a temporary "
        "file first, so a failed dump never replaces a good one; the file is readable by its owner only.\n"
        "Running: fresh dump, exit 0. Stopped: nothing dumped, the previous dump is kept, exit 3. Missing: exit 2. "
        "pg_dumpall failing: its exit code. Docker unreachable or refused: exit 1 (behind a socket proxy docker "
        "exec needs CONTAINERS=1, POST=1 and EXEC=1). No docker CLI: exit 127."
    ),
    body=_body(
        """
# borgui template: dump PostgreSQL with pg_dumpall via docker exec (pre-backup).
#   running → DUMP_DIR/CONTAINER_NAME.sql replaced by a fresh dump, exit 0
#   stopped → nothing dumped, the previous dump kept, exit 3 | missing → exit 2
#   pg_dumpall fails → its exit code, the previous dump kept
#   Docker unreachable or refused → 1 | no docker CLI → 127
# Socket proxy: CONTAINERS=1 POST=1 EXEC=1
""",
        """
container="${CONTAINER_NAME:-postgres}"
user="${POSTGRES_USER:-postgres}"
dump_dir="${DUMP_DIR:-/local/db-dumps}"
""",
        """
if ! grep -Fqx -- "$container" <<<"$running"; then
  echo "$container is not running: nothing dumped (the previous dump is kept)" >&2
  exit 3
fi
mkdir -p "$dump_dir"
dump="$dump_dir/$container.sql"
tmp=$(mktemp "$dump_dir/.$container.sql.XXXXXX")
trap 'rm -f "$tmp"' EXIT
docker exec "$container" pg_dumpall -U "$user" >"$tmp"
mv -f "$tmp" "$dump"
echo "dumped $container to $dump ($(wc -c <"$dump") bytes)"
""",
    ),
    parameters=(
        CONTAINER,
        Parameter("POSTGRES_USER", "postgres", "The database user pg_dumpall connects as."),
        Parameter("DUMP_DIR", "/local/db-dumps", "Where the dump is written (back this directory up)."),
    ),
)

POSTGRES_RESTORE_DRILL = Template(
    name="postgres-restore-drill",
    description=(
        "Restore drill for a PostgreSQL dump (attach as a plan's drill; docs/maintenance.md): loads the restored "
        "pg_dumpall file into a throwaway container (--rm, --network none, image CONTAINER_IMAGE, which must follow "
        "the official postgres image's interface: POSTGRES_PASSWORD and /docker-entrypoint-initdb.d) and runs "
        "CHECK_SQL on CHECK_DATABASE; the container is gone afterwards.\n"
        "Loaded and CHECK_SQL succeeded: exit 0. The dump does not load, or CHECK_SQL fails: the container's exit "
        "code (not 0). No dump found under the restored paths: exit 2. Docker unreachable: exit 125 (docker run's). "
        "No docker CLI: exit 127."
    ),
    body=r"""#!/usr/bin/env bash
# borgui template: restore drill for a PostgreSQL dump (restore-drill).
#   loaded, CHECK_SQL ok → exit 0 | dump does not load or CHECK_SQL fails → the container's exit code
#   no dump under BORG_UI_RESTORE_PATH → 2 | no docker CLI → 127
# The image must follow the official postgres image's interface (POSTGRES_PASSWORD,
# /docker-entrypoint-initdb.d: *.sql run with ON_ERROR_STOP, *.sh sourced, in name order).
set -euo pipefail

image="${CONTAINER_IMAGE:-postgres:15}"
check_sql="${CHECK_SQL:-SELECT 1}"
database="${CHECK_DATABASE:-postgres}"
restore_path="${BORG_UI_RESTORE_PATH:?not set: run this script as the restore drill of a plan}"

command -v docker >/dev/null 2>&1 || {
  echo "docker: command not found — install docker.io from Packages, or use an image that includes the Docker CLI" >&2
  exit 127
}

if [ -n "${DUMP_FILE:-}" ]; then
  dump="$restore_path/${DUMP_FILE#/}"
else
  dump=$(find "$restore_path" -type f -name '*.sql' | LC_ALL=C sort | head -n 1)
fi
if [ -z "$dump" ] || [ ! -f "$dump" ]; then
  echo "no dump found under $restore_path (set DUMP_FILE, or restore a *.sql file)" >&2
  exit 2
fi
echo "restore drill: loading ${dump#"$restore_path"/} ($(wc -c <"$dump") bytes) into a throwaway $image"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -- "$dump" "$work/10-restore.sql"
printf '%s\n' "$check_sql" >"$work/check.sql"
# Sourced by the image's entrypoint once the dump is loaded: run the check, then stop the
# container (exit leaves the entrypoint before it would start the server for good).
cat >"$work/90-check.sh" <<'CHECK'
echo "restore drill: running CHECK_SQL on database $BORGUI_CHECK_DATABASE"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc \
  --dbname "$BORGUI_CHECK_DATABASE" -f /borgui-drill/check.sql
echo "restore drill: passed"
exit 0
CHECK
chmod 0755 "$work"
chmod 0644 "$work"/*

# The dump's roles (postgres among them) are created by the dump itself: the container's
# own superuser has another name. Its password never leaves this process's environment.
POSTGRES_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export POSTGRES_PASSWORD
status=0
docker run --rm --network none -e POSTGRES_PASSWORD -e POSTGRES_USER=borgui_drill \
  -e BORGUI_CHECK_DATABASE="$database" \
  -v "$work/10-restore.sql:/docker-entrypoint-initdb.d/10-restore.sql:ro" \
  -v "$work/90-check.sh:/docker-entrypoint-initdb.d/90-check.sh:ro" \
  -v "$work/check.sql:/borgui-drill/check.sql:ro" \
  -- "$image" || status=$?
if [ "$status" -ne 0 ]; then
  echo "restore drill: failed (the container exited with $status)" >&2
fi
exit "$status"
""",
    parameters=(
        Parameter("CONTAINER_IMAGE", "postgres:15", "The image to load the dump into (the official postgres one)."),
        Parameter("CHECK_SQL", "SELECT 1", "SQL that must succeed on the loaded data (e.g. a row count check)."),
        Parameter("CHECK_DATABASE", "postgres", "The database CHECK_SQL runs in."),
        Parameter("DUMP_FILE", "", "The dump, relative to the restored paths; empty: the first *.sql file."),
    ),
    timeout=900,
)

TEMPLATES = (STOP, START, RESTART, POSTGRES_DUMP)  # the container templates (docs/docker-hooks.md)
LIBRARY = (*TEMPLATES, POSTGRES_RESTORE_DRILL)  # everything that ships


def _models(apps):
    if apps is None:
        from hooks.models import Script, ScriptApproval, ScriptParameter

        return Script, ScriptParameter, ScriptApproval
    return (
        apps.get_model("hooks", "Script"),
        apps.get_model("hooks", "ScriptParameter"),
        apps.get_model("hooks", "ScriptApproval"),
    )


def _parameters_of(script) -> list[tuple]:
    return [(p.name, p.default, p.required, p.secret, p.description) for p in script.parameters.order_by("id")]


def _wanted_parameters(template: Template) -> list[tuple]:
    return [(p.name, p.default, False, False, p.description) for p in template.parameters]


def _is_current(script, template: Template) -> bool:
    return (
        script.body == template.body
        and script.description == template.description
        and script.timeout == template.timeout
        and script.execution_target == "local"
        and script.approved_hash == template.content_hash
        and _parameters_of(script) == _wanted_parameters(template)
    )


def sync_templates(apps=None) -> list[tuple[str, str]]:
    """Create missing templates and restore changed ones; returns (name, what happened)."""
    from django.utils import timezone

    Script, ScriptParameter, ScriptApproval = _models(apps)
    done = []
    for template in LIBRARY:
        script = Script.objects.filter(name=template.name).first()
        if script is not None and not script.is_template:
            done.append((template.name, "skipped: a script that is not a template has this name"))
            continue
        if script is not None and _is_current(script, template):
            done.append((template.name, "unchanged"))
            continue
        action = "created" if script is None else "restored"
        script = script or Script(name=template.name, is_template=True)
        script.description, script.body, script.timeout = template.description, template.body, template.timeout
        script.execution_target, script.is_template = "local", True
        script.approved_hash, script.approved_by, script.approved_at = template.content_hash, APPROVER, timezone.now()
        script.save()
        script.parameters.all().delete()
        for parameter in template.parameters:
            ScriptParameter.objects.create(
                script=script, name=parameter.name, default=parameter.default, description=parameter.description
            )
        ScriptApproval.objects.create(script=script, content_hash=template.content_hash, approved_by=APPROVER)
        done.append((template.name, action))
    return done
