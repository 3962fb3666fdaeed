"""Hostile input, posted as a client would: the table of cases and the machinery that posts them.

A case is one line: ``(label, target, fields, expectation)``.

target:
  a form name in FORMS ("repository-add", "plan-change", …): the form is fetched with the
  session, the fields a browser would send are taken from the page, the form's valid base
  values and the case's fields are laid over them (None removes a field), and it is posted
  with the page's CSRF token;
  "action:<form name prefix>" ("action:repository"): an admin action on that changelist
  (fields: action, _selected_action, select_across);
  "GET /admin/…" or "POST /admin/…": a plain request (fields: the POST data, and
  "content_type" for a raw body);
  "apply_config": fields is a configuration file (a dict), applied with manage.py apply_config;
  "command:NAME": manage.py NAME with fields["args"] (an exit code other than 0 counts as
  refused, 4xx);
a target may end in "@operator": posted as the operator instead of the superuser.

expectation: REFUSED (nothing in the database changes) or ANSWERED (a page, not a 500),
optionally with text the answer must show, as refused("never runs").

Every case asserts: status below 500, no "Traceback" in what came back, no marker file
(the file a location's injected ProxyCommand would create), and for REFUSED an unchanged
database. Values that name a row of the world are written as Ref("repository").
"""

import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from hooks.models import Script
from notifications.models import Channel
from packages_admin.models import PackageInstall
from repositories import borg
from repositories.models import BackupPlan, PlanRepository, PlanRun, Repository
from tests import archivekit
from tests.adminkit import form_data

MARKER_HOST = "-oProxyCommand=touch$IFS$HOME.x"
MARKER_LOCATION = f"ssh://{MARKER_HOST}/x"  # ssh runs the command: the file $HOME.x appears


def marker_file() -> Path:
    """The file MARKER_LOCATION's command creates (HOME is the test's own directory)."""
    return Path(os.environ["HOME"] + ".x")


@dataclass(frozen=True)
class Expect:
    saves: bool
    says: str = ""
    status: int | None = None  # the exact answer, where it matters (a 4xx)


REFUSED = Expect(saves=False)
ANSWERED = Expect(saves=True)


def refused(says: str) -> Expect:
    return Expect(saves=False, says=says)


def answered(says: str) -> Expect:
    return Expect(saves=True, says=says)


def rejected(status: int, says: str = "") -> Expect:
    """Refused with this HTTP status before any view ran."""
    return Expect(saves=False, says=says, status=status)


class Ref(str):
    """The primary key of a row of the world, by its name there."""


class At(str):
    """A value with {names} of the world filled in: a row's primary key, a path's text."""


@dataclass(frozen=True)
class Form:
    url: str  # may contain {Ref name} for the object changed
    base: dict  # valid values for the fields a case does not set


FORMS = {
    "repository-add": Form(
        "/admin/repositories/repository/add/",
        {"name": "hostile", "location": "/tmp/borgui-hostile-unused", "encryption": "none"},
    ),
    "repository-change": Form("/admin/repositories/repository/{repository}/change/", {}),
    "ssh-add": Form(
        "/admin/repositories/sshconnection/add/",
        {"name": "hostile", "host": "192.0.2.30", "port": "22", "username": "backup"},
    ),
    "plan-add": Form(
        "/admin/repositories/backupplan/add/",
        {
            "name": "hostile",
            "sources": "/srv/data",
            "compression": "lz4",
            "archive_name": "{plan}-{now}",
            "repository_links-0-repository": Ref("repository"),
            "repository_links-0-order": "0",
        },
    ),
    "plan-change": Form("/admin/repositories/backupplan/{plan}/change/", {}),
    "package-add": Form("/admin/packages_admin/packageinstall/add/", {}),
    "channel-add": Form("/admin/notifications/channel/add/", {"name": "hostile", "url": "json://127.0.0.1:9/x"}),
    "script-add": Form(
        "/admin/hooks/script/add/",
        {"name": "hostile", "body": "#!/bin/sh\necho hostile\n", "timeout": "300", "execution_target": "local"},
    ),
}

CHANGELISTS = {
    "repository": "/admin/repositories/repository/",
    "plan": "/admin/repositories/backupplan/",
    "run": "/admin/repositories/planrun/",
    "script": "/admin/hooks/script/",
    "package": "/admin/packages_admin/packageinstall/",
}

FORTY_DIGITS = "1" * 40
ABSURD_FORMS = "99999999"
LONG_DEFAULT_BODY = "#!/bin/sh\necho ${LONGDEF:-" + "x" * 1500 + "}\n"
LATIN1_FORM = "application/x-www-form-urlencoded; charset=latin-1"


def _repository(path: str, **fields) -> dict:
    return {"repositories": [{"name": "hostile", "path": path, "encryption": "none", **fields}]}


def _plan(**fields) -> dict:
    plan = {"name": "hostile", "repositories": ["main"], "sources": ["/srv/data"], **fields}
    return {
        "repositories": [{"name": "main", "path": "/tmp/borgui-hostile-main", "encryption": "none"}],
        "plans": [plan],
    }


# fmt: off
CASES = [
    # 1. a repository location that runs a command through ssh
    ("location-host-option-add", "repository-add", {"location": MARKER_LOCATION}, refused("The host in")),
    ("location-user-option-add", "repository-add", {"location": "ssh://-oProxyCommand=x@h/x"}, refused("The user in")),
    ("location-user-port-option", "repository-add", {"location": "ssh://-p1@h/x"}, refused("The user in")),
    ("location-host-option-change", "repository-change", {"location": MARKER_LOCATION}, refused("The host in")),
    ("location-host-option-ipv6", "repository-add", {"location": "ssh://u@[-oProxyCommand=x]/x"}, REFUSED),
    ("location-empty-path", "repository-add", {"location": "ssh://u@h/"}, refused("path is not empty")),
    ("location-space", "repository-add", {"location": "/backups/a b"}, refused("no spaces")),
    ("location-host-option-apply", "apply_config", _repository(MARKER_LOCATION, init=True), refused("The host in")),
    ("location-user-option-apply", "apply_config", _repository("ssh://-p1@h/x"), refused("The user in")),
    ("ssh-host-option", "ssh-add", {"host": "-oProxyCommand=x"}, refused("never starting with")),
    ("ssh-user-option", "ssh-add", {"username": "-oProxyCommand=x"}, refused("not starting with")),
    ("stored-location-initialise", "action:repository", {"action": "initialise", "_selected_action": Ref("legacy")}, refused("borg was not run")),
    ("stored-location-list", "action:repository", {"action": "list_archives", "_selected_action": Ref("legacy")}, refused("borg was not run")),
    ("stored-location-select-all", "action:repository", {"action": "list_archives", "_selected_action": Ref("legacy"), "select_across": "1"}, ANSWERED),
    ("location-ipv6-valid", "repository-add", {"location": "ssh://backup@[2001:db8:0:0:0:0:0:1]:2222/./x"}, answered("was added successfully")),
    ("location-ssh-valid", "repository-add", {"location": "ssh://backup.user@backup-host.example.com/~/x"}, answered("was added successfully")),
    ("ssh-ipv6-valid", "ssh-add", {"host": "2001:db8::1"}, answered("was added successfully")),
    # 2. answers that were 500s
    ("location-port-too-big", "repository-add", {"location": "ssh://u@h:99999/x"}, refused("port from 1 to 65535")),
    ("location-port-too-big-apply", "apply_config", _repository("ssh://u@h:99999/x"), refused("port from 1 to 65535")),
    ("cron-never-runs", "plan-add", {"schedule": "0 0 31 2 *"}, refused("this schedule never runs")),
    ("cron-never-runs-apply", "apply_config", _plan(schedule="0 0 31 2 *"), refused("this schedule never runs")),
    ("cron-leap-day-runs", "plan-add", {"schedule": "0 0 29 2 *"}, answered("was added successfully")),
    ("plan-repository-not-a-number", "plan-add", {"repository_links-0-repository": "abc"}, REFUSED),
    ("plan-repository-forty-digits", "plan-add", {"repository_links-0-repository": FORTY_DIGITS}, REFUSED),
    ("repository-absurd-hook-forms", "repository-add", {"hook_attachments-TOTAL_FORMS": ABSURD_FORMS}, refused("at most 100 forms")),
    ("plan-absurd-repository-forms", "plan-add", {"repository_links-TOTAL_FORMS": ABSURD_FORMS}, refused("at most 100 forms")),
    ("plan-absurd-hook-forms", "plan-change", {"hook_attachments-TOTAL_FORMS": ABSURD_FORMS}, refused("at most 100 forms")),
    ("script-absurd-parameter-forms", "script-add", {"parameters-TOTAL_FORMS": ABSURD_FORMS}, refused("at most 100 forms")),
    ("action-repository-not-a-number", "action:repository", {"action": "list_archives", "_selected_action": "abc"}, refused("do not exist")),
    ("action-repository-forty-digits", "action:repository", {"action": "list_archives", "_selected_action": FORTY_DIGITS}, refused("do not exist")),
    ("action-repository-path", "action:repository", {"action": "initialise", "_selected_action": "../1"}, refused("do not exist")),
    ("action-repository-nul", "action:repository", {"action": "list_archives", "_selected_action": "1\x00"}, REFUSED),
    ("action-plan-search-nul", "POST /admin/repositories/backupplan/?q=%00", {"action": "run_now", "_selected_action": Ref("plan")}, REFUSED),
    ("action-repository-junk-across", "action:repository", {"action": "check_repository", "_selected_action": "abc", "select_across": "junk"}, REFUSED),
    ("action-plan-not-a-number", "action:plan", {"action": "run_now", "_selected_action": "abc"}, refused("do not exist")),
    ("action-plan-forty-digits", "action:plan", {"action": "run_now", "_selected_action": FORTY_DIGITS}, REFUSED),
    ("action-run-not-a-number", "action:run", {"action": "cancel", "_selected_action": "abc"}, refused("do not exist")),
    ("action-script-not-a-number", "action:script", {"action": "revoke_selected", "_selected_action": "abc"}, REFUSED),
    ("action-script-forty-digits", "action:script", {"action": "approve_selected", "_selected_action": FORTY_DIGITS}, REFUSED),
    ("action-package-not-a-number", "action:package", {"action": "remove_from_list", "_selected_action": "abc"}, REFUSED),
    ("action-package-forty-digits", "action:package", {"action": "refresh_status", "_selected_action": FORTY_DIGITS}, REFUSED),
    ("run-change-not-a-number", "GET /admin/repositories/planrun/abc/change/", {}, ANSWERED),
    ("run-change-forty-digits", f"GET /admin/repositories/planrun/{FORTY_DIGITS}/change/", {}, ANSWERED),
    ("repository-passphrase-not-a-number", "GET /admin/repositories/repository/abc/change-passphrase/", {}, ANSWERED),
    ("script-test-not-a-number", f"GET /admin/hooks/script/{FORTY_DIGITS}/test/", {}, ANSWERED),
    ("run-cancel-forty-digits", f"POST /admin/repositories/planrun/{FORTY_DIGITS}/cancel/", {}, answered("is not running")),
    ("package-option-command", "command:install_packages", {"args": ["--", "-oAPT::x=1"]}, REFUSED),
    ("post-latin-1-charset", "POST /admin/repositories/repository/add/", {"content_type": LATIN1_FORM, "name": "x"}, refused("UTF-8")),
    # 3. values saved that the rules refuse
    ("template-glob-in-format", "plan-add", {"archive_name": "{plan}-{now:%Y*}"}, refused("renders to")),
    ("template-newline-in-format", "plan-add", {"archive_name": "{plan}-{now:%Y\n}"}, REFUSED),
    ("template-double-colon-in-format", "plan-add", {"archive_name": "{plan}-{now:%Y::x}"}, refused("renders to")),
    ("template-bracket-in-format", "plan-add", {"archive_name": "{plan}-{now:[%Y}"}, refused("renders to")),
    ("template-strftime-newline", "plan-add", {"archive_name": "{plan}-{now:%Y%n}"}, refused("line breaks")),
    ("template-glob-apply", "apply_config", _plan(archive_name="{plan}-{now:%Y*}"), refused("renders to")),
    ("exclude-nul", "plan-add", {"excludes": "*.tmp\x00"}, REFUSED),
    ("script-proposed-default-too-long", "script-add", {"body": LONG_DEFAULT_BODY}, answered("but not declared: LONGDEF")),
    ("exclude-nul-apply", "apply_config", _plan(excludes=["*.tmp\x00"]), refused("Null characters")),
    # 4. repository locations: borg's "::", options, ssh tricks
    ("location-double-colon", "repository-add", {"location": "/backups/a::b"}, REFUSED),
    ("location-dash-first", "repository-add", {"location": "-rf"}, REFUSED),
    ("location-option-remote-path", "repository-add", {"location": "--remote-path=touch /tmp/x"}, REFUSED),
    ("location-relative", "repository-add", {"location": "backups/x"}, REFUSED),
    ("location-newline", "repository-add", {"location": "/backups/x\nProxyCommand=x"}, REFUSED),
    ("location-nul", "repository-add", {"location": "/backups/x\x00"}, REFUSED),
    ("location-long", "repository-add", {"location": "/" + "a" * 10000}, REFUSED),
    ("location-ssh-double-colon", "repository-add", {"location": "ssh://u@h/x::y"}, REFUSED),
    ("location-ssh-port-zero", "repository-add", {"location": "ssh://u@h:0/x"}, REFUSED),
    ("location-ssh-port-option", "repository-add", {"location": "ssh://u@h:-oProxyCommand=x/x"}, REFUSED),
    ("location-ssh-no-host", "repository-add", {"location": "ssh://u@/x"}, REFUSED),
    ("location-ssh-host-shell", "repository-add", {"location": "ssh://u@h;touch${IFS}x/x"}, REFUSED),
    ("location-scp-style-option", "repository-add", {"location": "-oProxyCommand=x:/x"}, REFUSED),
    ("location-ssh-user-shell", "repository-add", {"location": "ssh://$(touch${IFS}x)@h/x"}, REFUSED),
    ("location-dash-first-apply", "apply_config", _repository("-rf"), REFUSED),
    ("location-double-colon-apply", "apply_config", _repository("/backups/a::b"), REFUSED),
    ("ssh-host-shell", "ssh-add", {"host": "h;touch /tmp/x"}, REFUSED),
    ("ssh-host-newline", "ssh-add", {"host": "h\nProxyCommand x"}, REFUSED),
    ("ssh-port-not-a-number", "ssh-add", {"port": "22;id"}, REFUSED),
    ("ssh-port-too-big", "ssh-add", {"port": "70000"}, REFUSED),
    ("ssh-user-shell", "ssh-add", {"username": "u$(id)"}, REFUSED),
    # known_hosts lines are data in a file ssh reads, never options: a line like this is only a bad line
    ("ssh-known-hosts-option", "ssh-add", {"known_hosts": "h ssh-ed25519 AAAA\n-oProxyCommand=x"}, ANSWERED),
    # 5. passphrases: quotes, line breaks, unicode are kept as typed (borg works with them:
    # tests/test_hostile_input.py), a NUL is refused
    ("passphrase-quotes", "repository-add", {"encryption": "repokey", "passphrase": "it's \"quoted\" `id` $(id)"}, answered("was added successfully")),
    ("passphrase-newline", "repository-add", {"encryption": "repokey", "passphrase": "line one\nline two"}, answered("was added successfully")),
    ("passphrase-unicode", "repository-add", {"encryption": "repokey", "passphrase": "pässwörd ключ 鍵 🔑"}, answered("was added successfully")),
    ("passphrase-spaces-kept", "repository-add", {"encryption": "repokey", "passphrase": "  padded  "}, answered("was added successfully")),
    ("passphrase-nul", "repository-add", {"encryption": "repokey", "passphrase": "a\x00b"}, REFUSED),
    ("passphrase-change-differs", "POST /admin/repositories/repository/{repository}/change-passphrase/", {"new_passphrase": "a'b", "confirm_passphrase": "a'c"}, refused("differ")),
    # 6. script parameters: names refused by docs/hooks.md
    *[
        (f"parameter-name-{label}", "script-add", {"parameters-TOTAL_FORMS": "1", "parameters-0-name": name}, REFUSED)
        for label, name in [
            ("path", "PATH"), ("ld-preload", "LD_PRELOAD"), ("ld-library-path", "LD_LIBRARY_PATH"), ("bash-env", "BASH_ENV"),
            ("env", "ENV"), ("bash-func", "BASH_FUNC_x%%"), ("shellopts", "SHELLOPTS"), ("ps4", "PS4"), ("ifs", "IFS"),
            ("pythonpath", "PYTHONPATH"), ("perl5opt", "PERL5OPT"), ("node-options", "NODE_OPTIONS"),
            ("rubyopt", "RUBYOPT"), ("java-tool-options", "JAVA_TOOL_OPTIONS"), ("gconv-path", "GCONV_PATH"),
            ("borg-rsh", "BORG_RSH"), ("borg-passphrase", "BORG_PASSPHRASE"), ("borg-ui-reserved", "BORG_UI_REPOSITORY_NAME"),
            ("digit-first", "1ABC"), ("dash", "A-B"), ("space", "A B"), ("equals", "A=B"), ("shell", "A;id"),
            ("nul", "A\x00B"), ("long", "A" * 10000), ("unicode", "ÄBC"),
        ]
    ],
    ("parameter-name-valid", "script-add", {"parameters-TOTAL_FORMS": "1", "parameters-0-name": "CONTAINER_NAME"}, answered("was added successfully")),
    # a variable the script reads, never proposed as a parameter (tests/test_hostile_properties.py)
    ("parameter-proposed-refused-name", "script-add", {"body": "#!/bin/sh\necho ${LD_PRELOAD:-x}\n"}, answered("was added successfully")),
    ("parameter-name-apply", "apply_config", {"scripts": [{"name": "s", "body": "#!/bin/sh\n", "parameters": [{"name": "LD_PRELOAD"}]}]}, REFUSED),
    ("parameter-name-bash-env-apply", "apply_config", {"scripts": [{"name": "s", "body": "#!/bin/sh\n", "parameters": [{"name": "BASH_ENV"}]}]}, REFUSED),
    # 7. package names with apt options and shell characters
    *[
        (f"package-{label}", "package-add", {"name": name}, REFUSED)
        for label, name in [
            ("option-o", "-oAPT::Update::Pre-Invoke::=touch /tmp/x"), ("option-long", "--allow-unauthenticated"),
            ("option-yes", "-y"), ("shell", "hello;id"), ("version-shell", "hello=1.0;id"), ("subshell", "hello=$(id)"),
            ("path", "../hello"), ("newline", "hello\nbash"), ("upper-case", "HELLO"), ("long", "a" * 300),
            ("release", "hello/stable"), ("glob", "hell*"), ("space", "hello bash"), ("nul", "hello\x00"),
        ]
    ],
    ("package-option-command-bare", "command:install_packages", {"args": ["-oAPT::x=1"]}, REFUSED),
    ("package-shell-command", "command:install_packages", {"args": ["hello;id"]}, REFUSED),
    ("package-option-apply", "apply_config", {"packages": ["-oAPT::Update::Pre-Invoke::=touch /tmp/x"]}, REFUSED),
    ("package-long-option-apply", "apply_config", {"packages": ["--force-yes"]}, REFUSED),
    # 8. cron and time zone nonsense
    *[
        (f"cron-{label}", "plan-add", {"schedule": schedule}, REFUSED)
        for label, schedule in [
            ("minute-61", "61 * * * *"), ("reboot", "@reboot"), ("shell", "$(id) * * * *"), ("step-zero", "*/0 * * * *"),
            ("huge-range", "1-999999999 * * * *"), ("weekday-junk", "* * * * MON-FRI-SUN"), ("long", "* " * 5000),
            ("nul", "0 0 * * *\x00"), ("newline", "0 0 * * *\n* * * * *"), ("one-field", "5"), ("negative", "-1 * * * *"),
        ]
    ],
    *[
        (f"timezone-{label}", "plan-add", {"schedule": "0 3 * * *", "timezone": zone}, REFUSED)
        for label, zone in [
            ("directory", "America"), ("long", "x" * 10000), ("path", "../../etc/passwd"), ("absolute", "/etc/localtime"),
            ("nul", "UTC\x00"), ("unknown", "Mars/Olympus_Mons"), ("not-a-zone-file", "zone.tab"), ("offset", "Etc/GMT+99"),
        ]
    ],
    ("timezone-directory-verify", "plan-change", {"maintenance-0-verify_schedule": "0 4 * * *", "maintenance-0-verify_timezone": "America"}, REFUSED),
    ("timezone-directory-apply", "apply_config", _plan(schedule="0 3 * * *", timezone="America"), REFUSED),
    ("cron-nonsense-apply", "apply_config", _plan(schedule="61 * * * *"), REFUSED),
    # 9. names with shell, glob and path characters, "..", NUL, 10,000 characters
    *[
        (f"name-{label}-{form}", form, {"name": name}, REFUSED)
        for label, name in [
            ("shell", "x;touch /tmp/x"), ("subshell", "$(id)"), ("glob", "*"), ("slash", "a/b"), ("dotdot", ".."),
            ("dotdot-path", "../../etc"), ("nul", "a\x00b"), ("long", "a" * 10000), ("dash", "-rf"), ("escape", "a\x1b[2Jb"),
        ]
        for form in ("repository-add", "plan-add", "script-add", "ssh-add")
    ],
    ("name-shell-apply", "apply_config", {"repositories": [{"name": "$(id)", "path": "/tmp/x", "encryption": "none"}]}, REFUSED),
    ("name-dotdot-plan-apply", "apply_config", _plan(name=".."), REFUSED),
    ("name-shell-command", "command:run_backup", {"args": ["$(touch /tmp/x)"]}, REFUSED),
    ("name-option-command", "command:run_backup", {"args": ["nightly", "--repository", "../main"]}, REFUSED),
    ("name-option-test-script", "command:test_script", {"args": ["--", "-rf"]}, REFUSED),
    # 10. restore targets: "..", a symlink into borgui's data, "/", outside the restore roots
    ("restore-relative", "POST /admin/archives/archive/{archive}/restore/", {"target": "restored"}, refused("absolute path")),
    ("restore-data-dir", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{data_dir}")}, refused("borgui's data directory")),
    ("restore-dotdot-into-data", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{data_dir}/x/..")}, refused("data directory")),
    ("restore-symlink-into-data", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{restore_root}/into-data")}, refused("borgui's data directory")),
    ("restore-symlink-into-data-operator", "POST /admin/archives/archive/{archive}/restore/@operator", {"target": At("{restore_root}/into-data/new")}, refused("borgui's data directory")),
    ("restore-into-repository", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{main}/data")}, refused("repository main")),
    ("restore-root-unconfirmed", "POST /admin/archives/archive/{archive}/restore/", {"target": "/"}, refused("choose another target")),  # / holds borgui's data directory
    ("restore-root-wrong-confirmation", "POST /admin/archives/archive/{archive}/restore/", {"target": "/", "overwrite": "on", "confirm_root": "yes"}, refused("choose another target")),
    ("restore-root-operator", "POST /admin/archives/archive/{archive}/restore/@operator", {"target": "/", "overwrite": "on", "confirm_root": "/"}, refused("choose another target")),
    ("restore-dotdot-out-of-root", "POST /admin/archives/archive/{archive}/restore/@operator", {"target": At("{restore_root}/../outside")}, refused("not under a restore root")),
    ("restore-nul", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{restore_root}/a\x00b")}, REFUSED),
    ("restore-long", "POST /admin/archives/archive/{archive}/restore/", {"target": "/" + "a" * 10000}, REFUSED),
    ("restore-strip-negative", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{restore_root}/new"), "strip_components": "-1"}, REFUSED),
    ("restore-path-dotdot", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{restore_root}/new"), "paths": "../../etc/passwd"}, REFUSED),
    ("restore-path-nul", "POST /admin/archives/archive/{archive}/restore/", {"target": At("{restore_root}/new"), "paths": "docs\x00"}, REFUSED),
    ("restore-in-root-operator", "POST /admin/archives/archive/{archive}/restore/@operator", {"target": At("{restore_root}/new")}, answered("queued")),
    ("restore-target-option-command", "command:restore", {"args": ["main", "hostile-1", "--target", "-rf"]}, REFUSED),
    # 11. archive paths with "../" in browse and download
    ("browse-dotdot", "GET /admin/archives/archive/{archive}/browse/?path=../../etc", {}, ANSWERED),
    ("browse-encoded-dotdot", "GET /admin/archives/archive/{archive}/browse/?path=%2e%2e%2f%2e%2e%2fetc", {}, ANSWERED),
    ("browse-nul", "GET /admin/archives/archive/{archive}/browse/?path=docs%00&q=%00", {}, ANSWERED),
    ("browse-page-junk", "GET /admin/archives/archive/{archive}/browse/?page=-1e99&q=" + "*" * 3000, {}, ANSWERED),
    ("download-dotdot", "GET /admin/archives/archive/{archive}/download/?path=../../../etc/passwd", {}, ANSWERED),
    ("download-absolute", "GET /admin/archives/archive/{archive}/download/?path=/etc/passwd", {}, ANSWERED),
    ("download-dotdot-inside", "GET /admin/archives/archive/{archive}/download/?path=docs/../../../etc", {}, ANSWERED),
    ("diff-junk", "GET /admin/archives/archive/diff/?old=abc&new=../1&prefix=../..", {}, ANSWERED),
    ("diff-task-junk", "GET /admin/archives/archive/diff/?task=../../etc/passwd", {}, ANSWERED),
    # 12. channel and ping URLs: local Apprise schemes refused, non-admins refused
    *[
        (f"channel-url-{label}", "channel-add", {"url": url}, REFUSED)
        for label, url in [
            ("file", "file:///tmp/borgui-hostile"), ("file-upper", "FILE:///tmp/borgui-hostile"), ("windows", "windows://"),
            ("macosx", "macosx://"), ("dbus", "dbus://"), ("kde", "kde://"), ("qt", "qt://"), ("glib", "glib://"),
            ("gnome", "gnome://"), ("syslog", "syslog://"), ("blink1", "blink1://"), ("no-scheme", "/tmp/x"),
            ("two-urls", "json://127.0.0.1/x file:///tmp/x"), ("newline", "json://127.0.0.1/x\nfile:///tmp/x"),
            ("unknown-scheme", "nosuch://x"),
        ]
    ],
    ("channel-url-valid", "channel-add", {"url": "json://127.0.0.1:9/x"}, answered("was added successfully")),
    ("channel-add-operator", "channel-add@operator", {"url": "json://127.0.0.1:9/x"}, REFUSED),
    ("channel-change-operator", "POST /admin/notifications/channel/{channel}/change/@operator", {"name": "ops", "url": "json://127.0.0.1:9/y"}, REFUSED),
    ("ping-url-operator", "POST /admin/repositories/backupplan/{plan}/change/@operator", {"monitoring-0-ping_url": "https://hc-ping.com/x"}, REFUSED),
    ("channel-url-file-apply", "apply_config", {"notifications": [{"name": "ops2", "url": "file:///tmp/borgui-hostile"}]}, REFUSED),
    *[
        (f"ping-url-{label}", "plan-change", {"monitoring-0-ping_url": url}, REFUSED)
        for label, url in [
            ("file", "file:///etc/passwd"), ("javascript", "javascript:alert(1)"), ("no-host", "http://"),
            ("space", "https://hc-ping.com/a b"), ("ftp", "ftp://example.com/x"), ("apprise", "json://127.0.0.1/x"),
        ]
    ],
    # 13. huge bodies and uploads, too many fields
    ("body-huge-field", "POST /admin/repositories/repository/add/", {"name": "x" * 3_000_000}, rejected(413)),
    ("body-huge-upload", "POST /admin/repositories/repository/add/", {"upload": SimpleUploadedFile("big.bin", b"\0" * 3_000_000)}, rejected(413)),
    ("body-too-many-fields", "POST /admin/repositories/repository/add/", {f"f{i}": "1" for i in range(1500)}, rejected(400)),
    ("body-bad-content-length", "POST /admin/repositories/repository/add/", {"headers": {"Content-Length": "abc"}}, REFUSED),
    ("body-invalid-utf8", "POST /admin/repositories/repository/add/", {"content_type": "application/x-www-form-urlencoded", "name": "caf\xe9"}, REFUSED),
    # 14. YAML bombs and deep nesting
    ("yaml-billion-laughs", "apply_config", {"yaml": 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'}, refused("aliases")),
    ("yaml-deep-lists", "apply_config", {"yaml": "repositories: " + "[" * 5000 + "]" * 5000 + "\n"}, refused("nested deeper")),
    ("yaml-deep-maps", "apply_config", {"yaml": "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n"}, refused("nested deeper")),
    ("yaml-merge-key", "apply_config", {"yaml": "base: &b {name: x}\nrepositories:\n  - <<: *b\n    path: /tmp/x\n"}, REFUSED),
    ("yaml-duplicate-key", "apply_config", {"yaml": "repositories:\n  - name: a\n    name: b\n    path: /tmp/x\n"}, REFUSED),
    ("yaml-python-tag", "apply_config", {"yaml": "repositories: !!python/object/apply:os.system ['touch /tmp/x']\n"}, REFUSED),
    ("yaml-too-large", "apply_config", {"yaml": "#" * (2 * 1024 * 1024) + "\n"}, refused("larger than")),
    ("yaml-not-a-mapping", "apply_config", {"yaml": "- just\n- a list\n"}, REFUSED),
    # 15. the JSON views with junk query strings and headers
    ("healthz-junk", "GET /healthz?%00=%ff&x=" + "%" * 50, {}, ANSWERED),
    ("metrics-no-token", "GET /metrics?junk=%00", {}, ANSWERED),
    ("metrics-wrong-token", "GET /metrics", {"headers": {"Authorization": "Bearer wrong"}}, ANSWERED),
    ("metrics-unicode-token", "GET /metrics", {"headers": {"Authorization": "Bearer ünï"}}, ANSWERED),
    ("metrics-token-junk-query", "GET /metrics?%ff%fe=1&" + "a=1&" * 500, {"headers": {"Authorization": "Bearer hostile-metrics-token"}}, answered("borgui_")),
    ("autocomplete-junk", "GET /admin/autocomplete/?app_label=../..&model_name=%00&field_name=x&term=%ff", {}, ANSWERED),
    ("autocomplete-long-term", "GET /admin/autocomplete/?app_label=repositories&model_name=planrepository&field_name=repository&term=" + "a" * 5000, {}, ANSWERED),
    ("operations-junk", "GET /admin/repositories/repository/operations/?task=../../x&task=%00&task=" + "z" * 5000, {}, ANSWERED),
    ("jsi18n-junk", "GET /admin/jsi18n/?language=../../etc", {}, ANSWERED),
    ("changelist-junk-filter", "GET /admin/repositories/planrun/?status__exact=%00&o=99.-1.x&p=-5&q=%ff", {}, ANSWERED),
    ("changelist-unknown-lookup", "GET /admin/repositories/repository/?passphrase__startswith=a", {}, ANSWERED),
]
# fmt: on


@dataclass
class Answer:
    status: int
    text: str  # the body (unescaped) or the command's output


class Poster:
    """Posts cases with real sessions and CSRF tokens: as the superuser, or as "TARGET@ROLE".

    USERS maps a name to a function that makes that user; each is made and signed in when a
    case first needs it (force_login: a real session, without hashing a password per case).
    """

    def __init__(self, users: dict, world: "World"):
        self.users = users
        self.clients: dict[str, Client] = {}
        self.world = world

    def client_of(self, name: str) -> Client:
        if name not in self.clients:
            client = Client(enforce_csrf_checks=True, raise_request_exception=False)
            client.force_login(self.users[name]())
            self.clients[name] = client
        return self.clients[name]

    def fill(self, value):
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, Ref):
            return str(self.world[value].pk)
        if isinstance(value, At):
            return self.world.fill(value)
        return value

    def prepare(self, target: str, fields: dict) -> None:
        """Make the rows a case names before the database is compared (the world is lazy)."""
        self.world.fill(target)
        for value in fields.values():
            self.fill(value)
        self.client_of(target.partition("@")[2] or "admin")

    def post(self, target: str, fields: dict) -> Answer:
        target, _, user = target.partition("@")
        self.client = self.client_of(user or "admin")
        fields = {name: self.fill(value) for name, value in fields.items()}
        if target == "apply_config":
            return self._apply_config(fields)
        if target.startswith("command:"):
            return self._command(target.removeprefix("command:"), fields["args"])
        if target.startswith("action:"):
            return self._action(CHANGELISTS[target.removeprefix("action:")], fields)
        if target.startswith(("GET ", "POST ")):
            method, url = target.split(" ", 1)
            return self._request(method, self.world.fill(url), fields)
        return self._form(FORMS[target], fields)

    def _form(self, form: Form, fields: dict) -> Answer:
        url = self.world.fill(form.url)
        data = form_data(self.client, url)
        data.update({name: self.fill(value) for name, value in form.base.items()})
        data.update(fields)
        return self._answer(self.client.post(url, {k: v for k, v in data.items() if v is not None}, follow=True))

    def _action(self, url: str, fields: dict) -> Answer:
        self.client.get(url)  # sets the CSRF cookie
        data = {"csrfmiddlewaretoken": self.client.cookies["csrftoken"].value, "index": "0", **fields}
        return self._answer(self.client.post(url, data, follow=True))

    def _request(self, method: str, url: str, fields: dict) -> Answer:
        headers = fields.pop("headers", {})
        if method == "GET":
            return self._answer(self.client.get(url, headers=headers, follow=True))
        self.client.get("/admin/")  # sets the CSRF cookie
        content_type = fields.pop("content_type", None)
        fields["csrfmiddlewaretoken"] = self.client.cookies["csrftoken"].value
        if content_type is None:
            return self._answer(self.client.post(url, fields, headers=headers, follow=True))
        # A raw body, as a client that sends this content type would encode it.
        body = "&".join(f"{name}={value}" for name, value in fields.items()).encode("latin-1")
        return self._answer(self.client.generic("POST", url, body, content_type=content_type, headers=headers))

    def _apply_config(self, document: dict | str) -> Answer:
        """DOCUMENT as YAML, or {"yaml": TEXT} for a file no dict can be dumped to (an alias bomb)."""
        path = Path(os.environ["HOME"]) / "hostile.yaml"
        text = document["yaml"] if "yaml" in document else yaml.safe_dump(document, sort_keys=False)
        path.write_text(text)
        return self._command("apply_config", [str(path)])

    @staticmethod
    def _command(name: str, args: list[str]) -> Answer:
        """A management command in this process: exit 0 as 200, a refusal (any other exit code,
        with its one-line message) as 400; an exception it does not handle fails the case."""
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(name, *args, stdout=out, stderr=err)
            code = 0
        except SystemExit as e:
            code = e.code
        except CommandError as e:
            code, err = e.returncode, io.StringIO(str(e))
        return Answer(200 if code == 0 else 400, out.getvalue() + err.getvalue())

    @staticmethod
    def _answer(response) -> Answer:
        return Answer(response.status_code, html.unescape(response.content.decode(errors="replace")))


# Columns a page may touch when it only reads (when an index was last used, for its eviction).
VOLATILE = {"ArchiveIndex": {"last_used", "heartbeat"}}


def snapshot() -> dict:
    """Every row of the tables our apps own: what "nothing saved" compares."""
    labels = ("repositories", "hooks", "packages_admin", "archives", "notifications", "maintenance")
    models = [m for label in labels for m in apps.get_app_config(label).get_models()]
    return {
        model.__name__: [
            {name: value for name, value in row.items() if name not in VOLATILE.get(model.__name__, ())}
            for row in model.objects.order_by("pk").values()
        ]
        for model in models
    }


class World(dict):
    """The rows and paths cases name; the archive (real borg, an index) only when a case needs it."""

    def __init__(self, tmp_path: Path, rows: dict):
        super().__init__(rows)
        self.tmp_path = tmp_path

    def __missing__(self, name: str):
        if name != "archive":
            raise KeyError(name)
        repository = self["repository"]
        assert borg.init(repository).ok
        source = self.tmp_path / "archived"
        (source / "docs").mkdir(parents=True)
        (source / "docs" / "a.txt").write_text("archived\n")
        self["archive"] = archivekit.indexed_archive(repository, source, "hostile-1")
        return self["archive"]

    def fill(self, text: str) -> str:
        names = set(re.findall(r"\{(\w+)\}", text))
        values = {name: getattr(self[name], "pk", self[name]) for name in names}
        return text.format_map(values) if names else text


def make_world(tmp_path: Path) -> World:
    """One of each object the cases change or select, a legacy repository whose location was
    stored before the location rules refused it, and a restore root holding a symlink into
    borgui's data directory (the test makes it the only root)."""
    repository = Repository.objects.create(name="main", location=str(tmp_path / "main"), encryption="none")
    legacy = Repository.objects.create(name="legacy", location=MARKER_LOCATION, encryption="none")
    plan = BackupPlan.objects.create(name="nightly", sources=[str(tmp_path)])
    PlanRepository.objects.create(plan=plan, repository=repository, order=0)
    run = PlanRun.objects.create(plan=plan, status="success", trigger="admin")
    script = Script.objects.create(name="hello", body="#!/bin/sh\necho hello\n")
    package = PackageInstall.objects.create(name="docker.io")
    channel = Channel.objects.create(name="ops", url="json://127.0.0.1:9/hostile-token")
    restore_root = tmp_path / "restore-root"
    restore_root.mkdir()
    os.symlink(settings.DATA_DIR, restore_root / "into-data")
    rows = {"repository": repository, "legacy": legacy, "plan": plan, "run": run, "script": script}
    paths = {"restore_root": str(restore_root), "data_dir": str(settings.DATA_DIR), "main": repository.location}
    return World(tmp_path, {**rows, "package": package, "channel": channel, **paths})
