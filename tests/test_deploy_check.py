"""`manage.py check --deploy` reports only the warnings the README explains."""

import re

import pytest
from cryptography.fernet import Fernet


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"security.W004", "security.W008", "security.W012", "security.W016"}),
        ({"BORGUI_HTTPS": "true"}, {"security.W004"}),
        ({"BORGUI_HTTPS": "true", "BORGUI_HSTS_SECONDS": "31536000"}, {"security.W005", "security.W021"}),
    ],
)
def test_deploy_check_reports_only_explained_warnings(manage, env, expected):
    production = {"DEBUG": "false", "SECRET_KEY": Fernet.generate_key().decode() * 2, **env}
    result = manage("check", "--deploy", env=production)
    assert set(re.findall(r"\((security\.[EW]\d+)\)", result.stderr + result.stdout)) == expected
