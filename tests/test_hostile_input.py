"""Hostile input through the admin (a logged-in superuser, real session and CSRF token) and
apply_config: a clear answer, never a 500 or a traceback, nothing saved that the rules refuse,
and no command run from a repository location. The cases are in tests/hostilekit.py."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps

from repositories import borg
from repositories.models import Repository
from tests.conftest import PASSWORDS
from tests.hostilekit import CASES, MARKER_LOCATION, Poster, make_world, marker_file, snapshot


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME of this test (and of the borg and ssh it starts): the marker file lands beside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def poster(admin, role_user, home, tmp_path, settings):
    world = make_world(tmp_path)
    settings.BORGUI_RESTORE_ROOTS = [Path(world["restore_root"])]
    settings.BORGUI_METRICS_TOKEN = "hostile-metrics-token"
    role_user("operator")
    return Poster({"admin": PASSWORDS["admin"], "operator": PASSWORDS["operator"]}, world)


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
