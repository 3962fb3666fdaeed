"""apply_config refuses invalid files whole (docs/configuration.md#checks): each rule with the path of its key,
exit 2, and nothing changed in the database afterwards."""

import copy

import pytest

from hooks.models import Script
from repositories.models import BackupPlan
from tests.configkit import BASE, apply_file, snapshot, write


def _set(path: str, value):
    """A change to BASE: set the value at a dotted path (list indexes as numbers)."""

    def change(document):
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _parameter(name, **extra):
    return _set("scripts.1.parameters", [{"name": name, **extra}])


def _second_plan(document):
    plan = copy.deepcopy(document["plans"][0])
    plan.update(name="nightly-db", hooks={}, schedule="")
    document["plans"].append(plan)


def _secret_parameter(document):
    document["scripts"][1]["parameters"] = [{"name": "DB_PASSWORD", "secret": True}]
    document["plans"][0]["hooks"]["post-backup"][0]["parameters"] = {"DB_PASSWORD": {"env": "NO_SUCH_VARIABLE_X"}}


def _add(section, entry):
    return lambda document: document[section].append(entry)


P = "plans[0]"
PRE = f"{P}.hooks.pre-backup"
POST = f"{P}.hooks.post-backup"
DUP_NAME = "repositories[2].name: main is already the name of repositories[0]"
RESERVED = (
    "scripts[1].parameters[0].name: BORG_UI_X: names starting with BORG_UI_ are reserved for the variables borgui "
    "injects."
)
REFUSED = (
    "refused — a value for it could change what the script runs (PATH, LD_*, BASH_ENV, ENV, BASH_FUNC_*, SHELLOPTS, "
    "PS4, IFS, PYTHON*, PERL5*, RUBY*, NODE_OPTIONS, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS, GCONV_PATH, "
    "BORG_*)."
)
CRON_HELP = (
    "Use five fields (minute hour day-of-month month day-of-week, e.g. 30 2 * * *) "
    "or one of @hourly, @daily, @weekly, @monthly, @yearly."
)
CRON = f"minute 61 is out of range 0–59. {CRON_HELP}"
COMPRESSION = "Use a borg compression: none, lz4, zstd,1–22, zlib,0–9 or lzma,0–9, optionally prefixed with auto,"
INTERVAL = "Use a borg interval: a number and a unit, H (hours), d, w, m (months) or y, e.g. 7d."
NAME_RULE = "Use 1–100 letters, digits, '-', '_' or '.', starting with a letter or digit."
PREFIX = (
    "Retention prunes only this plan's archives, found by the fixed start of their names: put {plan} before {now} "
    "in the template (e.g. {plan}-{now})."
)
CONFLICT = (
    "Retention refused: on repository main the archives of plan nightly-db (nightly-db-…) match this plan's prefix "
    "nightly-…: prune could delete them; give the plans distinct name starts or separate repositories"
)

# (id, change to BASE, the exact error lines)
CASES = [
    ("reserved-prefix", _parameter("BORG_UI_X"), [RESERVED]),
    ("path-parameter", _parameter("PATH"), [f"scripts[1].parameters[0].name: PATH: {REFUSED}"]),
    ("ld-preload-parameter", _parameter("LD_PRELOAD"), [f"scripts[1].parameters[0].name: LD_PRELOAD: {REFUSED}"]),
    ("borg-parameter", _parameter("BORG_PASSPHRASE"), [f"scripts[1].parameters[0].name: BORG_PASSPHRASE: {REFUSED}"]),
    (
        "bad-parameter-name",
        _parameter("1ABC"),
        [
            "scripts[1].parameters[0].name: '1ABC' is not a variable name: use letters, digits and '_', "
            "not starting with a digit."
        ],
    ),
    (
        "required-with-default",
        _parameter("DB", required=True, default="x"),
        ["scripts[1].parameters[0].default: A required parameter has no default: the attachment must give it."],
    ),
    (
        "secret-with-default",
        _parameter("DB_PASSWORD", secret=True, default="hunter2"),
        [
            "scripts[1].parameters[0].default: A secret parameter takes no default here (defaults are stored in "
            "clear): give its value on each attachment, where it is encrypted."
        ],
    ),
    (
        "parameter-declared-twice",
        _set("scripts.1.parameters", [{"name": "A"}, {"name": "A"}]),
        ["scripts[1].parameters[1].name: A is already declared as parameters[0]"],
    ),
    ("empty-body", _set("scripts.1.body", "  \n"), ["scripts[1].body: The body is empty."]),
    (
        "script-timeout-0",
        _set("scripts.0.timeout", 0),
        ["scripts[0].timeout: Ensure this value is greater than or equal to 1."],
    ),
    (
        "execution-target",
        _set("scripts.0.execution_target", "remote"),
        ["scripts[0].execution_target: must be one of local, source"],
    ),
    (
        "approved-not-bool",
        _set("scripts.0.approved", "yes"),
        ["scripts[0].approved: must be true or false, not a string"],
    ),
    ("bad-cron", _set("plans.0.schedule", "61 * * * *"), [f"{P}.schedule: {CRON}"]),
    (
        "six-field-cron",
        _set("plans.0.schedule", "0 0 3 * * *"),
        [f"{P}.schedule: '0 0 3 * * *' has 6 fields. {CRON_HELP}"],
    ),
    (
        "bad-timezone",
        _set("plans.0.timezone", "Mars/Olympus_Mons"),
        [f"{P}.timezone: 'Mars/Olympus_Mons' is not an IANA time zone (for example Europe/Berlin)."],
    ),
    (
        "bad-package",
        _set("packages.0", "Docker.IO"),
        ["packages[0]: 'Docker.IO' is not a package name: package names are lower case (did you mean 'docker.io'?)"],
    ),
    ("shell-package", _set("packages.0", "$(id)"), ["packages[0]: '$(id)' is not a package name: '$' is not allowed"]),
    (
        "package-twice",
        _set("packages", ["hello", "hello=2.10-3"]),
        ["packages[1]: hello is already listed as packages[0]"],
    ),
    (
        "unknown-script-in-hook",
        _set("plans.0.hooks.pre-backup.1.script", "no-such-script"),
        [f"{PRE}[1].script: no script named no-such-script"],
    ),
    (
        "duplicate-name",
        _add("repositories", {"name": "main", "path": "/backups/other", "encryption": "none"}),
        [DUP_NAME],
    ),
    (
        "port-is-a-string",
        _set("ssh_connections.0.port", "22"),
        ["ssh_connections[0].port: must be a whole number, not a string"],
    ),
    ("sources-not-a-list", _set("plans.0.sources", "/srv/data"), [f"{P}.sources: must be a list, not a string"]),
    ("enabled-not-bool", _set("plans.0.enabled", "no"), [f"{P}.enabled: must be true or false, not a string"]),
    ("typo", _set("plans.0.schedul", "0 3 * * *"), [f"{P}.schedul: unknown key (did you mean schedule?)"]),
    (
        "unknown-key",
        _set("repositories.0.colour", "red"),
        [
            "repositories[0].colour: unknown key (allowed: name, path, encryption, init, source_connection, "
            "pre_backup_script, post_backup_script, check, compact, compact_after_prune, hooks, passphrase, "
            "passphrase_env, passphrase_file, "
            "exported_key, exported_key_env, exported_key_file)"
        ],
    ),
    ("unknown-section", _set("plan", []), ["plan: unknown key (did you mean plans?)"]),
    (
        "location-with-colons",
        _set("repositories.0.path", "/backups/main::archive"),
        ["repositories[0].path: A repository location never contains '::' (that separates the archive name)."],
    ),
    (
        "relative-location",
        _set("repositories.0.path", "backups/main"),
        ["repositories[0].path: Use an absolute local path (/backups/main) or ssh://user@host:port/path."],
    ),
    (
        "location-used-twice",
        _set("repositories.1.path", "/backups/main"),
        ["repositories[1].path: Repository with this Location already exists."],
    ),
    ("compression-level", _set("plans.0.compression", "zstd,23"), [f"{P}.compression: {COMPRESSION}"]),
    ("compression-gzip", _set("plans.0.compression", "gzip"), [f"{P}.compression: {COMPRESSION}"]),
    (
        "archive-name-with-slash",
        _set("plans.0.archive_name", "{plan}/{now}"),
        [f"{P}.archive_name: An archive name never contains '/', '*', '?', '[', ']' or '\\'."],
    ),
    ("retention-without-plan-prefix", _set("plans.0.archive_name", "{now}-{plan}"), [f"{P}.archive_name: {PREFIX}"]),
    ("retention-conflict", _second_plan, [f"{P}.repositories: {CONFLICT}"]),
    (
        "negative-keep-daily",
        _set("plans.0.retention.keep_daily", -1),
        [f"{P}.retention.keep_daily: Ensure this value is greater than or equal to 0."],
    ),
    ("bad-keep-within", _set("plans.0.retention.keep_within", "7days"), [f"{P}.retention.keep_within: {INTERVAL}"]),
    ("no-repositories", _set("plans.0.repositories", []), [f"{P}.repositories: Add at least one repository."]),
    (
        "unknown-repository",
        _set("plans.0.repositories", ["main", "nope"]),
        [f"{P}.repositories[1]: no repository named nope"],
    ),
    (
        "repository-twice",
        _set("plans.0.repositories", ["main", "main"]),
        [f"{P}.repositories[1]: main is listed twice"],
    ),
    (
        "unknown-source-connection",
        _set("plans.0.source_connection", "web2"),
        [f"{P}.source_connection: no SSH connection named web2"],
    ),
    (
        "stop-containers",
        _set("plans.0.stop_containers", ["postgres", "label:no value"]),
        [f"{P}.stop_containers: 'label:no value': a label selector is label:KEY=VALUE (no spaces or commas)"],
    ),
    (
        "port-0",
        _set("ssh_connections.0.port", 0),
        ["ssh_connections[0].port: Ensure this value is greater than or equal to 1."],
    ),
    (
        "port-70000",
        _set("ssh_connections.0.port", 70000),
        ["ssh_connections[0].port: Ensure this value is less than or equal to 65535."],
    ),
    (
        "bad-host",
        _set("ssh_connections.0.host", "bad host!"),
        ["ssh_connections[0].host: Use a host name, an IPv4 address or an IPv6 address, never starting with '-'."],
    ),
    ("bad-name", _set("repositories.0.name", "my repo"), [f"repositories[0].name: {NAME_RULE}"]),
    ("name-missing", _set("scripts.1", {"body": "echo\n"}), ["scripts[1].name: required"]),
    (
        "hook-timeout-0",
        _set("plans.0.hooks.pre-backup.0.timeout", 0),
        [f"{PRE}[0].timeout: Ensure this value is greater than or equal to 1."],
    ),
    (
        "timeout-not-whole",
        _set("plans.0.hooks.pre-backup.0.timeout", 1.5),
        [f"{PRE}[0].timeout: must be a whole number, not 1.5"],
    ),
    (
        "on-failure-value",
        _set("plans.0.hooks.pre-backup.1.on_failure", "abort"),
        [f"{PRE}[1].on_failure: must be one of fail, continue, skip"],
    ),
    (
        "skip-on-a-post-hook",
        _set("plans.0.hooks.post-backup.0.on_failure", "skip"),
        [f"{POST}[0].on_failure: A post-backup hook's on_failure is fail or continue."],
    ),
    (
        "run-on-on-a-pre-hook",
        _set("plans.0.hooks.pre-backup.0.run_on", "always"),
        [f"{PRE}[0].run_on: run_on applies to post-backup hooks only."],
    ),
    (
        "undeclared-hook-parameter",
        _set("plans.0.hooks.pre-backup.0.parameters", {"CONTAINER": "db1"}),
        [f"{PRE}[0].parameters: CONTAINER: not a parameter of script stop-db (declared: CONTAINER_NAME)."],
    ),
    (
        "several-problems-in-one-round",
        lambda document: [
            change(document)
            for change in (
                _set("plans.0.hooks.pre-backup.0.parameters", {"CONTAINER": "db1"}),
                _set("plans.0.schedule", "61 * * * *"),
                _set("repositories.0.encryption", "repokey"),
            )
        ],
        [
            "repositories[0].passphrase: Encryption repokey needs a passphrase.",
            f"{P}.schedule: {CRON}",
            f"{PRE}[0].parameters: CONTAINER: not a parameter of script stop-db (declared: CONTAINER_NAME).",
        ],
    ),
    (
        "passphrase-needed",
        _set("repositories.0.encryption", "repokey"),
        ["repositories[0].passphrase: Encryption repokey needs a passphrase."],
    ),
    (
        "encryption-value",
        _set("repositories.0.encryption", "aes"),
        [
            "repositories[0].encryption: must be one of none, authenticated, authenticated-blake2, repokey, "
            "repokey-blake2, keyfile, keyfile-blake2"
        ],
    ),
    (
        "passphrase-twice",
        lambda d: d["repositories"][0].update(passphrase="a", passphrase_env="HOME"),
        ["repositories[0]: give only one of passphrase, passphrase_env"],
    ),
    (
        "missing-env",
        lambda d: d["repositories"][0].update(encryption="repokey", passphrase_env="NO_SUCH_VARIABLE_X"),
        ["repositories[0].passphrase_env: environment variable NO_SUCH_VARIABLE_X is not set"],
    ),
    (
        "missing-file",
        lambda d: d["repositories"][0].update(encryption="repokey", passphrase_file="/nonexistent/passphrase"),
        ["repositories[0].passphrase_file: cannot read /nonexistent/passphrase: No such file or directory"],
    ),
    (
        "missing-key-file",
        _set("ssh_connections.0.private_key_file", "/nonexistent/key"),
        ["ssh_connections[0].private_key_file: cannot read /nonexistent/key: No such file or directory"],
    ),
    (
        "missing-parameter-env",
        _secret_parameter,
        [f"{POST}[0].parameters.DB_PASSWORD.env: environment variable NO_SUCH_VARIABLE_X is not set"],
    ),
    (
        "parameter-value-shape",
        _set("plans.0.hooks.pre-backup.0.parameters", {"CONTAINER_NAME": {"vault": "x"}}),
        [f"{PRE}[0].parameters.CONTAINER_NAME: must be a string, {{env: VARIABLE}} or {{file: PATH}}"],
    ),
    ("section-not-a-list", _set("packages", "docker.io"), ["packages: must be a list, not a string"]),
    (
        "several-at-once",
        lambda d: (_set("plans.0.schedule", "never")(d), _set("ssh_connections.0.port", 0)(d)),
        [
            "ssh_connections[0].port: Ensure this value is greater than or equal to 1.",
            f"{P}.schedule: 'never' has 1 field. {CRON_HELP}",
        ],
    ),
]


@pytest.fixture
def applied(db, tmp_path):
    """BASE applied: the database the invalid files are tried against."""
    code, out, err = apply_file(write(tmp_path, BASE, "base.yaml"))
    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1] == "7 created, 0 updated, 0 removed, 0 unchanged"
    return snapshot()


def test_the_base_file_is_valid_and_applies_unchanged_twice(applied, tmp_path):
    code, out, _err = apply_file(write(tmp_path, BASE))
    assert (code, out) == (0, "0 created, 0 updated, 0 removed, 7 unchanged\n")
    assert snapshot() == applied


@pytest.mark.parametrize("change, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_an_invalid_file_is_refused_with_the_key_path_and_changes_nothing(applied, tmp_path, change, expected):
    document = copy.deepcopy(BASE)
    change(document)
    code, out, err = apply_file(write(tmp_path, document))
    assert (code, out) == (2, "")
    assert err.splitlines() == expected
    assert snapshot() == applied


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

FILE_CASES = [
    ("alias-bomb", BILLION_LAUGHS, "line 2, column 8: aliases (*a) are not allowed in a borgui configuration"),
    ("not-utf8", "packages: [caf\u00e9]\n".encode("latin-1"), "not UTF-8 text: byte 0xe9 at offset 14 (line 1)"),
    (
        "huge",
        b"# " + b"x" * (1024 * 1024) + b"\n",
        "the file is larger than 1048576 bytes (1 MiB): not a configuration",
    ),
    (
        "top-level-list",
        "- docker.io\n",
        "the top level must be a mapping of ssh_connections, scripts, repositories, plans, packages, notifications, "
        "not a list",
    ),
    (
        "top-level-string",
        "packages\n",
        "the top level must be a mapping of ssh_connections, scripts, repositories, plans, packages, notifications, "
        "not a string",
    ),
    (
        "duplicate-key",
        "packages: [hello]\npackages: [docker.io]\n",
        "line 2, column 1: the key 'packages' is given twice in one mapping",
    ),
    (
        "syntax-error",
        "plans:\n  - name: nightly\n    schedule: 0 3 * * *\n      sources: []\n",
        "line 4, column 14: mapping values are not allowed here",
    ),
    ("deep-nesting", "packages: " + "[" * 100 + "]" * 100 + "\n", "line 1, column 42: nested deeper than 32 levels"),
    (
        "python-tag",
        "packages: !!python/object/apply:os.system ['id']\n",
        "line 1, column 11: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
]


@pytest.mark.parametrize("content, message", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_a_file_that_is_no_configuration_is_refused(applied, tmp_path, content, message):
    path = write(tmp_path, content)
    code, out, err = apply_file(path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{path}: {message}"]
    assert snapshot() == applied


def test_a_missing_file_is_refused(db, tmp_path):
    code, _out, err = apply_file(tmp_path / "nope.yaml")
    assert code == 2
    assert err == f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory\n"


def test_an_empty_file_changes_nothing(applied, tmp_path):
    code, out, err = apply_file(write(tmp_path, ""))
    assert (code, out, err) == (0, "0 created, 0 updated, 0 removed, 0 unchanged\n", "")
    assert snapshot() == applied


def test_a_refused_file_through_manage_py_exits_2_with_one_line_per_problem(manage, tmp_path):
    document = copy.deepcopy(BASE)
    document["plans"][0]["hooks"]["pre-backup"][1]["on_failure"] = "abort"
    document["plans"][0]["schedul"] = "0 3 * * *"
    result = manage("apply_config", str(write(tmp_path, document)))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{PRE}[1].on_failure: must be one of fail, continue, skip",
        f"{P}.schedul: unknown key (did you mean schedule?)",
    ]
    assert not BackupPlan.objects.exists() and not Script.objects.filter(name="stop-db").exists()
