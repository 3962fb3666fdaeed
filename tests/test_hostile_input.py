"""Hostile input through the admin (a signed-in superuser or operator, real session and CSRF
token), apply_config and the commands: a clear answer, never a 500 or a traceback, nothing
saved that the rules refuse, no command run from a repository location. The cases are in
tests/hostilekit.py; passphrases with real borg and hostile output bytes are below."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from hooks.services.testing import create_test, run_test
from repositories import borg
from repositories.models import PlanRun, Repository
from tests import archivekit
from tests.factories import make_plan, make_repository
from tests.hookkit import attach, make_script
from tests.hostilekit import CASES, MARKER_LOCATION, Poster, make_world, marker_file, snapshot


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME of this test (and of the borg and ssh it starts): the marker file lands beside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def poster(django_user_model, role_user, home, tmp_path, settings):
    world = make_world(tmp_path)
    settings.BORGUI_RESTORE_ROOTS = [Path(world["restore_root"])]
    settings.BORGUI_METRICS_TOKEN = "hostile-metrics-token"
    # No password: the sessions are made with force_login, and hashing costs a second a case.
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    return Poster({"admin": lambda: admin, "operator": lambda: role_user("operator")}, world)


def test_the_table_holds_at_least_150_cases_with_distinct_labels():
    labels = [case[0] for case in CASES]
    assert len(labels) >= 150 and len(set(labels)) == len(labels)


@pytest.mark.parametrize("target, fields, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_hostile_input_gets_a_clear_answer_and_changes_nothing_it_must_not(poster, target, fields, expected):
    poster.prepare(target, fields)
    before = snapshot()
    answer = poster.post(target, fields)
    assert answer.status < 500, answer.text[:2000]
    if expected.status is not None:
        assert answer.status == expected.status, answer.text[:2000]
    assert "Traceback" not in answer.text
    assert not marker_file().exists(), "a command from a repository location ran"
    if not expected.saves:
        assert snapshot() == before
    assert expected.says in answer.text, answer.text[:2000]


def test_borg_never_runs_on_a_stored_location_the_rules_refuse(db, home):
    repository = Repository.objects.create(name="legacy", location=MARKER_LOCATION, encryption="none")
    for operation in (borg.init, borg.list_archives, borg.info, borg.check, borg.break_lock):
        result = operation(repository)
        assert not result.ok
        assert result.error_line().startswith("borg was not run: the stored location is refused. The host in")
    assert not marker_file().exists()


def test_a_valid_location_still_runs_borg(db, home, tmp_path):
    repository = Repository.objects.create(name="main", location=str(tmp_path / "main"), encryption="none")
    assert borg.init(repository).ok
    assert borg.list_archives(repository).json()["archives"] == []


def test_migrating_lists_stored_locations_the_rules_refuse_and_changes_none(db, capsys):
    migration = importlib.import_module("repositories.migrations.0007_report_refused_locations")
    Repository.objects.create(name="legacy", location=MARKER_LOCATION, encryption="none")
    Repository.objects.create(name="main", location="/backups/main", encryption="none")
    before = snapshot()
    migration.report_refused_locations(django_apps, None)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"repository legacy: location refused, borg will not run on it: The host in {MARKER_LOCATION!r} "
        "is not allowed. Use a host name, an IPv4 address or an IPv6 address, never starting with '-'."
    ]
    assert snapshot() == before


# --- passphrases as typed, with real borg --------------------------------------------------

PASSPHRASES = {
    "quotes": 'it\'s "quoted" `id` $(id) \\ ;',
    "newline": "line one\nline two",
    "unicode": "pässwörd ключ 鍵 🔑",
    "spaces": "  padded  ",
}


@pytest.mark.parametrize("passphrase", PASSPHRASES.values(), ids=PASSPHRASES.keys())
def test_a_passphrase_is_kept_as_typed_and_borg_works_with_it(poster, tmp_path, passphrase):
    location = tmp_path / "encrypted"
    fields = {"name": "vault", "location": str(location), "encryption": "repokey", "passphrase": passphrase}
    assert "was added successfully" in poster.post("repository-add", fields).text
    repository = Repository.objects.get(name="vault")
    assert repository.passphrase == passphrase
    assert borg.init(repository).ok
    source = tmp_path / "source"
    source.mkdir()
    (source / "file.txt").write_text("kept\n")
    archivekit.create_archive(repository, source, "first")
    assert [a["name"] for a in borg.list_archives(repository).json()["archives"]] == ["first"]
    repository.passphrase = passphrase + "x"  # the same repository with a wrong one: refused
    assert not borg.list_archives(repository).ok


# --- hostile bytes in hook and borg output: stored and shown safely ------------------------

HOSTILE_OUTPUT = (
    "#!/bin/sh\n"
    "printf 'nul:\\000 esc:\\033[2J\\033]0;title\\007 bad:\\377\\376 <script>alert(1)</script>\\n'\n"
    "printf 'err:\\033[31m\\000' >&2\n"
)


def _assert_shown_safely(page: str) -> None:
    assert "\x1b" not in page and "\x00" not in page and "\x07" not in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "esc:␛[2J␛]0;title␇" in page and "nul:␀" in page and "bad:��" in page


def test_hook_output_with_control_bytes_is_kept_visible_and_escaped(admin, client):
    script = make_script("noisy", HOSTILE_OUTPUT)
    execution = run_test(create_test(script, "admin"))
    execution.refresh_from_db()
    assert execution.exit_code == 0
    assert execution.stderr == "err:␛[31m␀"
    client.force_login(admin)
    page = client.get(f"/admin/hooks/scriptexecution/{execution.pk}/change/").content.decode()
    _assert_shown_safely(page)


@pytest.mark.django_db(transaction=True)
def test_a_run_with_hostile_hook_output_shows_it_safely_and_keeps_the_terminal_clean(manage, tmp_path, admin, client):
    repository = make_repository(tmp_path / "repo")
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    plan = make_plan("nightly", [repository], [source])
    attach(plan, make_script("noisy", HOSTILE_OUTPUT), "pre-backup")
    result = manage("run_backup", "nightly")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    run = PlanRun.objects.get()
    client.force_login(admin)
    _assert_shown_safely(client.get(f"/admin/repositories/planrun/{run.pk}/change/").content.decode())
