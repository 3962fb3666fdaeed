"""The admin pages of notification channels and plan monitoring: URLs are secrets (shown as
their scheme only), only holders of notifications.change_channel edit them."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from notifications.models import Channel, DeliveryAttempt, PlanMonitoring
from repositories.models import BackupPlan, PlanRun, Repository
from tests.adminkit import count_changelist_queries, form_data
from tests.factories import make_plan
from tests.notifykit import closed_port_url, json_channel

pytestmark = pytest.mark.django_db
TOKEN_URL = "tgram://123456789:AAHsecretBotToken42/-1001234"
PING_URL = "https://hc-ping.example/7c1f0b9e-secret-uuid"


def _grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 - names are ours
        return cursor.fetchone()[0]


def test_an_admin_adds_a_channel_and_never_sees_its_url_again(client, admin):
    client.force_login(admin)
    response = client.post(
        reverse("admin:notifications_channel_add"),
        {"name": "phone", "url": TOKEN_URL, "events": ["failure", "stale"], "all_plans": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get(name="phone")
    assert channel.url == TOKEN_URL and channel.events == ["failure", "stale"]
    assert "AAHsecret" not in _raw("notifications_channel", "url", channel.pk)
    for url in (reverse("admin:notifications_channel_changelist"), channel.get_absolute_url()):
        page = client.get(url).content.decode()
        assert "tgram://…" in page and "123456789" not in page and "AAHsecret" not in page


def test_saving_a_channel_without_a_new_url_keeps_the_stored_one(client, admin, receiver):
    channel = json_channel(receiver)
    client.force_login(admin)
    data = form_data(client, channel.get_absolute_url())
    data["events"] = ["failure"]
    assert client.post(channel.get_absolute_url(), data).status_code == 302
    channel.refresh_from_db()
    assert channel.url == receiver.url("/notify", scheme="json") and channel.events == ["failure"]


def test_a_local_scheme_is_refused_with_one_line_and_nothing_saved(client, admin):
    client.force_login(admin)
    response = client.post(
        reverse("admin:notifications_channel_add"),
        {"name": "disk", "url": "file:///etc/cron.d/x", "events": ["failure"]},
    )
    assert response.status_code == 200
    assert "file:// acts on this machine" in response.content.decode()
    assert not Channel.objects.exists()


def test_a_viewer_sees_the_scheme_only_and_cannot_change_or_add(client, staff):
    channel = Channel.objects.create(name="phone", url=TOKEN_URL)
    _grant(staff, "view_channel")
    client.force_login(staff)
    page = client.get(channel.get_absolute_url()).content.decode()
    assert "tgram://…" in page and "AAHsecret" not in page and "123456789" not in page
    assert client.post(channel.get_absolute_url(), {"name": "x", "url": "json://evil/"}).status_code == 403
    assert client.get(reverse("admin:notifications_channel_add")).status_code == 403
    assert Channel.objects.get().url == TOKEN_URL


def test_send_test_notification_reports_delivered_and_the_reason_it_was_not(client, admin, receiver):
    good = json_channel(receiver, name="good")
    bad = Channel.objects.create(name="bad", url=closed_port_url())
    client.force_login(admin)
    response = client.post(
        reverse("admin:notifications_channel_changelist"),
        {"action": "send_test", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Channel good: test notification delivered." in page
    assert "Channel bad: not delivered:" in page and "Connection refused" in page
    assert receiver.wait_for(1)[0].json()["title"] == "borgui: test notification"
    attempts = {a.target: a.ok for a in DeliveryAttempt.objects.all()}
    assert attempts == {"good": True, "bad": False}
    assert "Connection refused" in client.get(bad.get_absolute_url()).content.decode()


def _plan():
    repository = Repository.objects.create(name="main", location="/backups/main", encryption="none")
    return make_plan("nightly", [repository], ["/srv"])


def test_an_admin_sets_a_ping_url_and_stale_alert_on_the_plan_page(client, admin):
    plan = _plan()
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    data = form_data(client, url)
    data.update({"monitoring-0-ping_url": PING_URL, "monitoring-0-alert_after_hours": "26"})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    monitoring = PlanMonitoring.objects.get(plan=plan)
    assert monitoring.ping_url == PING_URL and monitoring.alert_after_hours == 26
    page = client.get(url).content.decode()
    assert "https://…" in page and "secret-uuid" not in page


def test_without_the_channel_permission_the_ping_url_is_shown_as_its_scheme_only(client, staff):
    plan = _plan()
    PlanMonitoring.objects.create(plan=plan, ping_url=PING_URL, alert_after_hours=26)
    _grant(staff, "view_backupplan", "change_backupplan")
    client.force_login(staff)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    page = client.get(url).content.decode()
    assert "https://…" in page and "secret-uuid" not in page
    assert 'name="monitoring-0-ping_url"' not in page


def test_a_plan_editor_without_the_channel_permission_cannot_set_or_change_the_ping_url(client, staff, admin):
    kept, fresh = _plan(), make_plan("weekly", [Repository.objects.get(name="main")], ["/srv"])
    PlanMonitoring.objects.create(plan=kept, ping_url=PING_URL, alert_after_hours=26)
    _grant(staff, "view_backupplan", "change_backupplan")
    forged = {
        "monitoring-TOTAL_FORMS": "1", "monitoring-INITIAL_FORMS": "0", "monitoring-MIN_NUM_FORMS": "0",
        "monitoring-MAX_NUM_FORMS": "1", "monitoring-0-ping_url": "https://attacker.example/x",
        "monitoring-0-clear_ping_url": "on", "monitoring-0-alert_after_hours": "1",
    }  # fmt: skip
    for plan in (kept, fresh):
        url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
        client.force_login(admin)  # the form as an admin sees it, with the monitoring inline
        data = form_data(client, url)
        client.force_login(staff)
        data.update(forged)
        if plan == kept:
            data.update({"monitoring-INITIAL_FORMS": "1", "monitoring-0-id": str(kept.monitoring.pk)})
        data["monitoring-0-plan"] = str(plan.pk)
        client.post(url, data)
    kept.monitoring.refresh_from_db()
    assert (kept.monitoring.ping_url, kept.monitoring.alert_after_hours) == (PING_URL, 26)
    assert not PlanMonitoring.objects.filter(plan=fresh).exists()


def test_a_bad_ping_url_is_refused(client, admin):
    plan = _plan()
    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_change", args=[plan.pk])
    data = form_data(client, url)
    data.update({"monitoring-0-ping_url": "ftp://example.org/x", "monitoring-0-alert_after_hours": ""})
    response = client.post(url, data)
    assert response.status_code == 200 and "Give an http:// or https:// URL" in response.content.decode()
    assert not PlanMonitoring.objects.exists()


def test_the_plan_list_shows_stale_plans_at_a_constant_number_of_queries(client, admin):
    from django.utils import timezone

    client.force_login(admin)
    url = reverse("admin:repositories_backupplan_changelist")
    for index in range(3):
        plan = BackupPlan.objects.create(name=f"p{index}", sources=["/srv"])
        PlanMonitoring.objects.create(plan=plan, alert_after_hours=1, stale_since=timezone.now())
    few = count_changelist_queries(client, url, 3)
    for index in range(3, 10):
        BackupPlan.objects.create(name=f"p{index}", sources=["/srv"])
    assert count_changelist_queries(client, url, 10) == few
    assert client.get(url).content.decode().count("stale since") == 3


def test_the_run_page_lists_its_notifications_and_pings(client, admin):
    run = PlanRun.objects.create(plan=_plan(), trigger="cli", status="failure")
    DeliveryAttempt.objects.create(run=run, target="ping /fail", kind="failure", ok=False, error="HTTP 500 boom")
    client.force_login(admin)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Notifications and pings of this run" in page and "HTTP 500 boom" in page and "ping /fail" in page


def test_the_front_page_names_stale_plans(client, admin):
    from django.utils import timezone

    plan = _plan()
    client.force_login(admin)
    assert "stale-plans" not in client.get(reverse("admin:index")).content.decode()
    PlanMonitoring.objects.create(plan=plan, alert_after_hours=26, stale_since=timezone.now())
    page = client.get(reverse("admin:index")).content.decode()
    assert "no successful backup for more than 26 h" in page and plan.get_absolute_url() in page
