"""Notifications as code (docs/notifications.md, docs/configuration.md): the `notifications:`
section and the plan keys ping_url / alert_after_hours, round-tripping with secrets as
*_env references."""

import re

import pytest

from notifications.models import Channel, PlanMonitoring

pytestmark = pytest.mark.django_db(transaction=True)
NOTHING_TO_DO = r"0 created, 0 updated, 0 removed, \d+ unchanged\n"
OPS_URL = "ntfys://ntfy.example/backups-5ad1c9"
PING = "https://hc-ping.example/2b8e6c1d-uuid"
SECRETS = {"OPS_URL": OPS_URL, "PING": PING}


def _nightly(tmp_path, plan_keys: str) -> str:
    return f"""\
repositories:
  - {{name: main, path: {tmp_path}/repo, encryption: none}}
plans:
  - name: nightly
    repositories: [main]
    sources: [/srv]
    {plan_keys}
"""


def _file(tmp_path) -> str:
    (tmp_path / "discord.url").write_text("discord://123456789012/AbCdEfGhIjKlMnOp-token\n")
    return (
        _nightly(tmp_path, "ping_url_env: PING\n    alert_after_hours: 26")
        + f"""\
  - name: weekly
    repositories: [main]
    sources: [/srv]
notifications:
  - name: ops
    url_env: OPS_URL
    events: [failure, stale, containers]
  - name: team
    url_file: {tmp_path}/discord.url
    events: [success, failure]
    plans: [weekly]
  - name: inline
    url: json://127.0.0.1:9/hook
"""
    )


def test_notifications_and_plan_monitoring_round_trip(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(_file(tmp_path))
    first = manage("apply_config", str(config), env=SECRETS)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-4:] == [
        "created notification ops",
        "created notification team",
        "created notification inline",
        "6 created, 0 updated, 0 removed, 0 unchanged",
    ]
    ops, team, inline = (Channel.objects.get(name=n) for n in ("ops", "team", "inline"))
    assert (ops.url, ops.events, ops.all_plans) == (OPS_URL, ["failure", "stale", "containers"], True)
    assert team.url.startswith("discord://") and [p.name for p in team.plans.all()] == ["weekly"]
    assert not team.all_plans and inline.events == ["failure", "stale", "containers", "check", "verify"]
    monitoring = PlanMonitoring.objects.get()
    assert (monitoring.plan.name, monitoring.ping_url, monitoring.alert_after_hours) == ("nightly", PING, 26)
    again = manage("apply_config", str(config), env=SECRETS)
    assert re.fullmatch(NOTHING_TO_DO, again.stdout), again.stdout

    text = manage("export_config").stdout
    for secret in (OPS_URL, PING, "AbCdEfGh", "127.0.0.1"):
        assert secret not in text
    assert "    ping_url_env: BORGUI_PLAN_NIGHTLY_PING_URL\n    alert_after_hours: 26\n" in text
    assert (
        "notifications:\n  - name: inline\n    url_env: BORGUI_NOTIFICATION_INLINE_URL\n"
        "    events: [failure, stale, containers, check, verify]\n" in text
    )
    assert "    events: [success, failure]\n    plans: [weekly]\n" in text
    env = {
        "BORGUI_PLAN_NIGHTLY_PING_URL": PING,
        "BORGUI_NOTIFICATION_OPS_URL": OPS_URL,
        "BORGUI_NOTIFICATION_TEAM_URL": team.url,
        "BORGUI_NOTIFICATION_INLINE_URL": inline.url,
    }
    assert set(re.findall(r"^#   (BORGUI_\w+):", text, re.M)) == set(env)
    same = manage("apply_config", "-", input=text, env=env)
    assert re.fullmatch(NOTHING_TO_DO, same.stdout), same.stdout

    assert manage("flush", "--no-input").returncode == 0
    restored = manage("apply_config", "-", input=text, env=env)
    assert restored.returncode == 0, restored.stderr
    assert manage("export_config").stdout == text
    assert Channel.objects.get(name="team").url == team.url and PlanMonitoring.objects.get().ping_url == PING


def test_omitted_secrets_are_kept_and_a_channel_for_every_plan_again(manage, tmp_path):
    config = tmp_path / "borgui.yaml"
    config.write_text(_file(tmp_path))
    assert manage("apply_config", str(config), env=SECRETS).returncode == 0
    config.write_text(
        """\
plans:
  - {name: nightly, repositories: [main], sources: [/srv]}
notifications:
  - {name: team, events: [failure]}
"""
    )
    result = manage("apply_config", str(config))
    assert result.returncode == 0, result.stderr
    assert "updated plan nightly (alert_after_hours)" in result.stdout
    assert "updated notification team (events, plans)" in result.stdout
    team = Channel.objects.get(name="team")
    assert team.url.startswith("discord://") and team.all_plans and not team.plans.exists()
    monitoring = PlanMonitoring.objects.get()
    assert (monitoring.ping_url, monitoring.alert_after_hours) == (PING, None)


@pytest.mark.parametrize(
    ("notifications", "plan_keys", "error"),
    [
        ("- {name: a, url: 'json://h/x', events: [failure, nope]}", "", "notifications[0].events[1]: must be one of"),
        ("- {name: a, url: 'file:///tmp/x'}", "", "notifications[0].url: file:// acts on this machine"),
        ("- {name: a, url: 'json://h/x', plans: [ghost]}", "", "notifications[0].plans[0]: no plan named ghost"),
        ("- {name: a}", "", "notifications[0].url: Give an Apprise URL"),
        ("- {name: a, url: 'json://h/x'}\n  - {name: a, url: 'json://h/y'}", "", "notifications[1].name: a is already"),
        ("[]", "ping_url: 'ftp://x/y'", "plans[0].ping_url: Give an http:// or https:// URL"),
        ("[]", "alert_after_hours: 0", "plans[0].alert_after_hours: Ensure this value is greater than or equal to 1"),
        ("[]", "ping_url_env: NOT_SET_ANYWHERE", "plans[0].ping_url_env: environment variable NOT_SET_ANYWHERE"),
    ],
)
def test_bad_notification_keys_are_refused_with_their_path_and_change_nothing(
    manage, tmp_path, notifications, plan_keys, error
):
    config = tmp_path / "borgui.yaml"
    config.write_text(_nightly(tmp_path, plan_keys) + f"notifications:\n  {notifications}\n")
    result = manage("apply_config", str(config))
    assert result.returncode == 2 and error in result.stderr, result.stderr
    assert not Channel.objects.exists() and not PlanMonitoring.objects.exists()
