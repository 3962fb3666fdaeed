"""Maintenance as code (docs/maintenance.md, docs/configuration.md): repository check,
compact and compact_after_prune, plan verify and drill, round-tripping with export_config
(secret drill parameters as *_env references)."""

import re

import pytest
from django_q.models import Schedule

from maintenance.models import PlanMaintenance, RepositoryMaintenance

pytestmark = pytest.mark.django_db(transaction=True)
NOTHING_TO_DO = r"0 created, 0 updated, 0 removed, \d+ unchanged\n"
DB_PASSWORD = "drill-secret-4f1a"


def _file(tmp_path) -> str:
    return f"""\
scripts:
  - name: pg-drill
    body: "#!/bin/sh\\nexit 0\\n"
    parameters:
      - {{name: CHECK_SQL, required: true}}
      - {{name: DB_PASSWORD, secret: true}}
    approved: true
repositories:
  - name: main
    path: {tmp_path}/repo
    encryption: none
    check: {{schedule: 30 2 * * 0, timezone: Europe/Berlin, verify_data: true}}
    compact: {{schedule: 0 5 * * *}}
  - name: offsite
    path: {tmp_path}/offsite
    encryption: none
    check: {{schedule: 0 1 * * *, max_duration: 3600}}
    compact_after_prune: false
plans:
  - name: nightly
    repositories: [main, offsite]
    sources: [/srv]
    verify: {{schedule: 0 7 * * *, timezone: Asia/Tokyo, sample_percent: 2.5, count_tolerance_percent: 5}}
    drill:
      script: pg-drill
      paths: [srv/dumps]
      schedule: 0 8 * * 1
      parameters: {{CHECK_SQL: SELECT 1, DB_PASSWORD: {{env: DB_PASSWORD}}}}
"""


def test_maintenance_keys_round_trip(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(_file(tmp_path))
    first = manage("apply_config", str(config), env={"DB_PASSWORD": DB_PASSWORD})
    assert first.returncode == 0, first.stderr
    main = RepositoryMaintenance.objects.get(repository__name="main")
    assert (main.check_schedule, main.check_timezone, main.check_verify_data, main.compact_schedule) == (
        "30 2 * * 0", "Europe/Berlin", True, "0 5 * * *",
    )  # fmt: skip
    offsite = RepositoryMaintenance.objects.get(repository__name="offsite")
    assert (offsite.check_max_duration, offsite.compact_after_prune) == (3600, False)
    plan = PlanMaintenance.objects.get()
    assert (plan.verify_timezone, plan.sample_percent, plan.count_tolerance_percent) == ("Asia/Tokyo", 2.5, 5)
    assert plan.drill_script.name == "pg-drill" and plan.drill_paths == ["srv/dumps"]
    assert plan.drill_values() == {"CHECK_SQL": "SELECT 1", "DB_PASSWORD": DB_PASSWORD}
    names = set(Schedule.objects.values_list("name", flat=True))
    repo_ids = {r.repository.name: r.repository_id for r in (main, offsite)}
    assert {f"check:{repo_ids['main']}", f"compact:{repo_ids['main']}", f"check:{repo_ids['offsite']}"} <= names
    assert {f"verify:{plan.plan_id}", f"drill:{plan.plan_id}"} <= names
    again = manage("apply_config", str(config), env={"DB_PASSWORD": DB_PASSWORD})
    assert re.fullmatch(NOTHING_TO_DO, again.stdout), again.stdout

    text = manage("export_config").stdout
    assert DB_PASSWORD not in text
    assert "    check: {schedule: 30 2 * * 0, timezone: Europe/Berlin, verify_data: true}\n" in text
    assert "    check: {schedule: 0 1 * * *, max_duration: 3600}\n    compact_after_prune: false\n" in text
    assert (
        "    verify: {schedule: 0 7 * * *, timezone: Asia/Tokyo, sample_percent: 2.5, count_tolerance_percent: 5}\n"
        in text
    )
    assert "DB_PASSWORD: {env: BORGUI_PLAN_NIGHTLY_DRILL_DB_PASSWORD}" in text
    env = {"BORGUI_PLAN_NIGHTLY_DRILL_DB_PASSWORD": DB_PASSWORD}
    same = manage("apply_config", "-", input=text, env=env)
    assert re.fullmatch(NOTHING_TO_DO, same.stdout), same.stdout
    assert manage("flush", "--no-input").returncode == 0
    restored = manage("apply_config", "-", input=text, env=env)
    assert restored.returncode == 0, restored.stderr
    assert manage("export_config").stdout == text
    assert PlanMaintenance.objects.get().drill_values()["DB_PASSWORD"] == DB_PASSWORD


def test_omitted_maintenance_keys_mean_none(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(_file(tmp_path))
    assert manage("apply_config", str(config), env={"DB_PASSWORD": DB_PASSWORD}).returncode == 0
    config.write_text(
        f"""\
repositories:
  - {{name: main, path: {tmp_path}/repo, encryption: none}}
  - {{name: offsite, path: {tmp_path}/offsite, encryption: none}}
plans:
  - {{name: nightly, repositories: [main, offsite], sources: [/srv]}}
"""
    )
    result = manage("apply_config", str(config))
    assert result.returncode == 0, result.stderr
    assert "updated repository main (check, compact)" in result.stdout
    assert "updated plan nightly (drill, verify)" in result.stdout
    assert not RepositoryMaintenance.objects.exists() and not PlanMaintenance.objects.exists()
    assert not Schedule.objects.filter(name__regex=r"^(check|compact|verify|drill):").exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            "check: {verify_data: true, max_duration: 60}",
            "repositories[0].check.max_duration: max_duration runs a partial",
        ),
        ("check: {schedule: every day}", "repositories[0].check.schedule:"),
        ("check: {timezone: Mars/Olympus}", "repositories[0].check.timezone:"),
        ("compact: {schedule: 0 3 * * *, verify_data: true}", "repositories[0].compact.verify_data: unknown key"),
        ("compact_after_prune: sometimes", "repositories[0].compact_after_prune: must be true or false"),
    ],
)
def test_bad_repository_keys(manage, tmp_path, keys, message):
    config = tmp_path / "borgui.yaml"
    config.write_text(f"repositories:\n  - name: main\n    path: {tmp_path}/repo\n    encryption: none\n    {keys}\n")
    result = manage("apply_config", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not RepositoryMaintenance.objects.exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("verify: {sample_percent: 150}", "plans[0].verify.sample_percent:"),
        ("verify: {sample_percent: lots}", "plans[0].verify.sample_percent: must be a number"),
        ("drill: {paths: [a]}", "plans[0].drill.script: required"),
        ("drill: {script: nope}", "plans[0].drill.script: no script named nope"),
        ("drill: {script: s, parameters: {OTHER: x}}", "plans[0].drill.parameters: OTHER: not a parameter of script s"),
    ],
)
def test_bad_plan_keys(manage, tmp_path, keys, message):
    config = tmp_path / "borgui.yaml"
    config.write_text(
        f"""\
scripts:
  - {{name: s, body: "exit 0"}}
repositories:
  - {{name: main, path: {tmp_path}/repo, encryption: none}}
plans:
  - name: nightly
    repositories: [main]
    sources: [/srv]
    {keys}
"""
    )
    result = manage("apply_config", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not PlanMaintenance.objects.exists()
