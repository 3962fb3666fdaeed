"""Ping URLs (healthchecks.io protocol, docs/notifications.md): sent by the process that
runs the plan, start before end, failures recorded and never fatal."""

import pytest

from notifications.models import DeliveryAttempt, PlanMonitoring
from notifications.services import pings, urls
from repositories.models import PlanRun
from tests.factories import make_plan, make_repository, make_source_tree
from tests.hookkit import attach, make_script
from tests.notifykit import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan(tmp_path):
    repository = make_repository(tmp_path / "repo", encryption="repokey-blake2")
    return make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])


def test_start_then_success_with_a_summary_suffix_before_the_query(plan, receiver, manage):
    PlanMonitoring.objects.create(plan=plan, ping_url=receiver.url("/ping/0f3a-uuid?rid=7"))
    result = manage("run_backup", "nightly")
    assert result.returncode == 0, result.stderr
    start, end = receiver.wait_for(2)
    assert (start.method, start.path) == ("GET", "/ping/0f3a-uuid/start?rid=7")
    assert (end.method, end.path) == ("POST", "/ping/0f3a-uuid?rid=7")
    assert end.headers["Content-Type"].startswith("text/plain")
    assert end.text.startswith("Plan nightly: success") and "main: success — archive nightly-" in end.text
    attempts = list(DeliveryAttempt.objects.order_by("id").values_list("target", "ok"))
    assert attempts == [("ping /start", True), ("ping", True)]


def test_start_then_fail_with_the_masked_output_tail(plan, receiver, manage):
    passphrase = plan.ordered_repositories()[0].passphrase
    script = make_script("check-db", f'#!/bin/sh\necho "login {passphrase}"\necho "db unreachable" >&2\nexit 4\n')
    attach(plan, script, "pre-backup")
    PlanMonitoring.objects.create(plan=plan, ping_url=receiver.url("/ping/0f3a-uuid"))
    result = manage("run_backup", "nightly")
    assert result.returncode == 2
    start, fail = receiver.wait_for(2)
    assert start.path == "/ping/0f3a-uuid/start" and (fail.method, fail.path) == ("POST", "/ping/0f3a-uuid/fail")
    assert "Output of hook check-db (pre-backup): exit 4" in fail.text
    assert "login ***" in fail.text and "db unreachable" in fail.text and passphrase not in fail.text


def test_a_ping_url_that_answers_nothing_leaves_the_run_alone(plan, manage):
    PlanMonitoring.objects.create(plan=plan, ping_url=closed_port_url("http"))
    result = manage("run_backup", "nightly")
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "status: success"
    assert PlanRun.objects.get().status == "success"
    attempts = list(DeliveryAttempt.objects.order_by("id"))
    assert [(a.target, a.ok) for a in attempts] == [("ping /start", False), ("ping", False)]
    assert "Connection refused" in attempts[0].error and "127.0.0.1" not in attempts[0].error


def test_an_error_answer_is_recorded_with_its_status(plan, receiver, manage):
    receiver.status = 500
    PlanMonitoring.objects.create(plan=plan, ping_url=receiver.url("/ping/0f3a-uuid"))
    assert manage("run_backup", "nightly").returncode == 0
    assert [a.error for a in DeliveryAttempt.objects.order_by("id")] == ["HTTP 500 Internal Server Error"] * 2


def test_a_ping_body_keeps_its_last_10000_bytes():
    body = "first line\n" + "é" * 20_000 + "\nlast line"
    bounded = pings._bounded(body)
    assert len(bounded) <= pings.MAX_BODY_BYTES and bounded.decode().endswith("last line")


@pytest.mark.parametrize(
    ("url", "suffix", "expected"),
    [
        ("https://hc-ping.com/u-1", "start", "https://hc-ping.com/u-1/start"),
        ("https://hc-ping.com/u-1/", "fail", "https://hc-ping.com/u-1/fail"),
        ("https://hc.example/ping/key/slug?create=1", "start", "https://hc.example/ping/key/slug/start?create=1"),
        ("https://hc-ping.com/u-1", "", "https://hc-ping.com/u-1"),
    ],
)
def test_the_suffix_goes_before_the_query_string(url, suffix, expected):
    assert urls.with_suffix(url, suffix) == expected
