"""Package names (the one validator every entry point uses) and other small functions of the install."""

import os
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from packages_admin.services import LOG_HEAD, LOG_TAIL, apt_lists_age, is_satisfied, package_log
from packages_admin.validators import parse_package_spec, validate_package_spec
from tests.packagekit import HOSTILE_NAMES


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("hello", ("hello", None)),
        ("docker.io", ("docker.io", None)),
        ("libstdc++6", ("libstdc++6", None)),
        ("g++", ("g++", None)),
        ("0ad", ("0ad", None)),
        ("hello=2.10-3", ("hello", "2.10-3")),
        ("docker.io=20.10.24+dfsg1-1+b3", ("docker.io", "20.10.24+dfsg1-1+b3")),
        ("tzdata=2024a-0+deb12u1~rc1", ("tzdata", "2024a-0+deb12u1~rc1")),
        ("python3=3.11.2-1+b1", ("python3", "3.11.2-1+b1")),
        ("foo=1:2.3-4", ("foo", "1:2.3-4")),
    ],
)
def test_debian_names_and_versions_pass(spec, expected):
    assert parse_package_spec(spec) == expected
    validate_package_spec(spec)


def test_at_least_twenty_hostile_names_are_tested():
    assert len(HOSTILE_NAMES) >= 20
    assert len(set(HOSTILE_NAMES)) == len(HOSTILE_NAMES)


@pytest.mark.parametrize("spec", HOSTILE_NAMES)
def test_hostile_names_are_refused_with_one_line(spec):
    with pytest.raises(ValidationError) as caught:
        validate_package_spec(spec)
    (message,) = caught.value.messages
    assert "\n" not in message and "\r" not in message and "\x00" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    "spec, says",
    [
        ("", "the package name is empty"),
        ("-oAPT::Update::Pre-Invoke::=touch /tmp/x", "options (starting with -) are not allowed"),
        ("hello; rm -rf /", "spaces, line breaks and control characters are not allowed"),
        ("hello;id", "';' is not allowed"),
        ("$(id)", "'$' is not allowed"),
        ("HELLO", "package names are lower case (did you mean 'hello'?)"),
        ("../x", "paths are not allowed"),
        ("hello=", "the version after '=' is empty"),
        ("hello=abc", "'abc' is not a Debian version"),
        ("h\u0435llo", "(U+0435) is not an ASCII character"),
        ("h", "use lower-case letters, digits and + . -"),
        ("hello\n", "'hello\\n' is not a package name"),
    ],
)
def test_the_message_names_the_problem(spec, says):
    with pytest.raises(ValidationError) as caught:
        validate_package_spec(spec)
    assert says in caught.value.messages[0]


def test_install_log_keeps_what_was_asked_and_how_it_ended():
    log = package_log("borgui: installing hello\n")
    for i in range(20_000):
        log.append(f"apt line {i}\n")
    text = log.value()
    assert text.startswith("borgui: installing hello\napt line 0\n")
    assert text.endswith("apt line 19999\n")
    assert "bytes elided …]" in text
    assert len(text) < LOG_HEAD + LOG_TAIL + 100


def test_install_log_continues_a_stored_log():
    log = package_log("first\n")
    assert log.version == 0, "the stored part is already saved"
    log.append("second\n")
    assert (log.value(), log.version) == ("first\nsecond\n", 1)


@pytest.mark.parametrize(
    "spec, installed, satisfied",
    [
        ("hello", "2.10-3", True),
        ("hello", None, False),
        ("hello=2.10-3", "2.10-3", True),
        ("hello=2.10-3", "2.10-2", False),
    ],
)
def test_a_pinned_version_counts_as_installed_only_at_that_version(spec, installed, satisfied):
    assert is_satisfied(spec, installed) is satisfied


def test_apt_lists_age_is_the_last_update_not_the_mirror_date(tmp_path):
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    (lists / "lock").touch()
    assert apt_lists_age(lists) is None  # nothing but the lock: no lists at all

    published = time.time() - 30 * 86400  # apt stamps list files with the mirror's date
    index = lists / "deb.debian.org_debian_dists_bookworm_InRelease"
    index.touch()
    os.utime(index, (published, published))
    an_hour_ago = time.time() - 3600
    os.utime(lists, (an_hour_ago, an_hour_ago))
    os.utime(lists / "partial", (an_hour_ago, an_hour_ago))
    assert timedelta(minutes=59) < apt_lists_age(lists) < timedelta(minutes=61)

    two_days_ago = time.time() - 2 * 86400
    os.utime(lists, (two_days_ago, two_days_ago))
    os.utime(lists / "partial", (two_days_ago, two_days_ago))
    assert apt_lists_age(lists) > timedelta(days=1)
