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
  "command:NAME": manage.py NAME with fields["args"] (exit 1 or 2 counts as refused, 4xx).

expectation: REFUSED (nothing in the database changes) or ANSWERED (a page, not a 500),
optionally with text the answer must show, as refused("never runs").

Every case asserts: status below 500, no "Traceback" in what came back, no marker file
(the file a location's injected ProxyCommand would create), and for REFUSED an unchanged
database. Values that name a row of the world are written as Ref("repository").
"""

import html
import io
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client

from hooks.models import Script
from packages_admin.models import PackageInstall
from repositories.models import BackupPlan, PlanRepository, PlanRun, Repository
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


REFUSED = Expect(saves=False)
ANSWERED = Expect(saves=True)


def refused(says: str) -> Expect:
    return Expect(saves=False, says=says)


def answered(says: str) -> Expect:
    return Expect(saves=True, says=says)


class Ref(str):
    """The primary key of a row of the world, by its name there."""


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
]
# fmt: on


@dataclass
class Answer:
    status: int
    text: str  # the body (unescaped) or the command's output


class Poster:
    """Posts cases as a logged-in user with real sessions and CSRF tokens."""

    def __init__(self, username: str, password: str, world: dict):
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        assert self.client.login(username=username, password=password)
        self.world = world

    def resolve(self, value):
        if isinstance(value, Ref):
            return str(self.world[value].pk)
        return value

    def post(self, target: str, fields: dict) -> Answer:
        fields = {name: self.resolve(value) for name, value in fields.items()}
        if target == "apply_config":
            return self._apply_config(fields)
        if target.startswith("command:"):
            return self._command(target.removeprefix("command:"), fields["args"])
        if target.startswith("action:"):
            return self._action(CHANGELISTS[target.removeprefix("action:")], fields)
        if target.startswith(("GET ", "POST ")):
            method, url = target.split(" ", 1)
            return self._request(method, url, fields)
        return self._form(FORMS[target], fields)

    def _form(self, form: Form, fields: dict) -> Answer:
        url = form.url.format_map({name: obj.pk for name, obj in self.world.items()})
        data = form_data(self.client, url)
        data.update({name: self.resolve(value) for name, value in form.base.items()})
        data.update(fields)
        return self._answer(self.client.post(url, {k: v for k, v in data.items() if v is not None}, follow=True))

    def _action(self, url: str, fields: dict) -> Answer:
        self.client.get(url)  # sets the CSRF cookie
        data = {"csrfmiddlewaretoken": self.client.cookies["csrftoken"].value, "index": "0", **fields}
        return self._answer(self.client.post(url, data, follow=True))

    def _request(self, method: str, url: str, fields: dict) -> Answer:
        if method == "GET":
            return self._answer(self.client.get(url, follow=True))
        self.client.get("/admin/")  # sets the CSRF cookie
        content_type = fields.pop("content_type", None)
        fields["csrfmiddlewaretoken"] = self.client.cookies["csrftoken"].value
        if content_type is None:
            return self._answer(self.client.post(url, fields, follow=True))
        # A raw body, as a client that sends this content type would encode it.
        body = "&".join(f"{name}={value}" for name, value in fields.items()).encode("latin-1")
        return self._answer(self.client.generic("POST", url, body, content_type=content_type))

    def _apply_config(self, document: dict) -> Answer:
        path = Path(os.environ["HOME"]) / "hostile.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return self._command("apply_config", [str(path)])

    @staticmethod
    def _command(name: str, args: list[str]) -> Answer:
        """A management command in this process; exit 0 as 200, a refusal (1, 2) as 400, else 500."""
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(name, *args, stdout=out, stderr=err)
            code = 0
        except SystemExit as e:
            code = e.code
        except CommandError as e:
            code, err = e.returncode, io.StringIO(str(e))
        return Answer({0: 200, 1: 400, 2: 400}.get(code, 500), out.getvalue() + err.getvalue())

    @staticmethod
    def _answer(response) -> Answer:
        return Answer(response.status_code, html.unescape(response.content.decode(errors="replace")))


def snapshot() -> dict:
    """Every row of the tables our apps own: what "nothing saved" compares."""
    models = [
        m for label in ("repositories", "hooks", "packages_admin") for m in apps.get_app_config(label).get_models()
    ]
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def make_world(tmp_path: Path) -> dict:
    """One of each object the cases change or select, and a legacy repository whose
    location was stored before the location rules refused it."""
    repository = Repository.objects.create(name="main", location=str(tmp_path / "main"), encryption="none")
    legacy = Repository.objects.create(name="legacy", location=MARKER_LOCATION, encryption="none")
    plan = BackupPlan.objects.create(name="nightly", sources=[str(tmp_path)])
    PlanRepository.objects.create(plan=plan, repository=repository, order=0)
    run = PlanRun.objects.create(plan=plan, status="succeeded", trigger="admin")
    script = Script.objects.create(name="hello", body="#!/bin/sh\necho hello\n")
    package = PackageInstall.objects.create(name="docker.io")
    return {"repository": repository, "legacy": legacy, "plan": plan, "run": run, "script": script, "package": package}
