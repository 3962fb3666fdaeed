"""The exact environment of every kind of hook (docs/hooks.md#hook-environment): the full BORG_UI_* set, compared
whole, and borgui's own secrets stripped. Real processes print what they got."""

import pytest

from hooks.parameters import parameter_name_problem, proposed_parameters
from hooks.services.environment import HookContext, RepositoryInfo, build_hook_environment
from hooks.services.testing import create_test, run_test
from repositories.models import SSHConnection
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree
from tests.harness.postgres import dump_test_database
from tests.hookkit import ENV_DUMP, attach, borg_ui, make_script, read_envs

# What borgui's own process may hold that no hook may see.
BORGUI_SECRETS = {
    "SECRET_KEY": "django-secret",
    "SECRET_KEY_FILE": "/run/secrets/key",
    "DATABASE_URL": "postgres://borgui:db-password@db/borgui",
    "DATABASE_URL_FILE": "/run/secrets/db",
    "BORGUI_ENCRYPTION_KEY": "fernet",
    "BORGUI_ADMIN_PASSWORD": "pw",
    "DJANGO_SUPERUSER_PASSWORD": "pw",
    "BORG_PASSPHRASE": "repo-pass",
    "BORG_PASSPHRASE_FD": "3",
    "BORG_PASSCOMMAND": "cat /secret",
    "BORG_KEY_FILE": "/keys/k",
    "BORG_UI_SPOOFED": "from-the-environment",
    "BORG_UI_HOOK_TYPE": "spoofed",
}
PASSED_THROUGH = {
    "DOCKER_HOST": "tcp://docker-socket-proxy:2375",
    "HTTPS_PROXY": "http://proxy:3128",
    "MY_SETTING": "1",
}


# --- pure functions ------------------------------------------------------------------------


def test_build_hook_environment_strips_and_injects():
    process_env = {"PATH": "/usr/bin", **BORGUI_SECRETS, **PASSED_THROUGH}
    context = HookContext(hook_type="pre-backup", repository=RepositoryInfo(7, "main", "/backups/main"), job_id=42)
    env = build_hook_environment(process_env, context, {"CONTAINER_NAME": "db1"})
    assert env == {
        "PATH": "/usr/bin",
        **PASSED_THROUGH,
        "CONTAINER_NAME": "db1",
        "BORG_UI_HOOK_TYPE": "pre-backup",
        "BORG_UI_REPOSITORY_ID": "7",
        "BORG_UI_REPOSITORY_NAME": "main",
        "BORG_UI_REPOSITORY_PATH": "/backups/main",
        "BORG_UI_JOB_ID": "42",
    }


@pytest.mark.parametrize(
    "name",
    [
        "BORG_UI_X", "BORG_UI_HOOK_TYPE", "PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV",
        "BASH_FUNC_x%%", "BASH_FUNC_ls", "SHELLOPTS", "PS4", "IFS", "PYTHONPATH", "PYTHONSTARTUP",
        "PERL5OPT", "PERL5LIB", "NODE_OPTIONS", "BORG_PASSPHRASE", "BORG_RSH", "1ABC", "A-B", "", "A B",
    ],
)  # fmt: skip
def test_refused_parameter_names(name):
    assert parameter_name_problem(name)


@pytest.mark.parametrize("name", ["CONTAINER_NAME", "_x", "db1", "PGUSER", "BORGUI", "BORG", "LD"])
def test_allowed_parameter_names(name):
    assert parameter_name_problem(name) == ""


def test_saving_proposes_parameters_from_the_body_skipping_reserved_names():
    body = 'docker stop "${CONTAINER_NAME:-postgres}" ${BORG_UI_JOB_ID} ${PATH} ${DUMP_DIR} $PLAIN ${CONTAINER_NAME}'
    assert proposed_parameters(body) == {"CONTAINER_NAME": "postgres", "DUMP_DIR": ""}


# --- real hooks in real backups ------------------------------------------------------------


@pytest.fixture
def hostile_environment(monkeypatch):
    for name, value in {**BORGUI_SECRETS, **PASSED_THROUGH}.items():
        monkeypatch.setenv(name, value)


def _assert_no_borgui_secrets(env: dict):
    for name in BORGUI_SECRETS:
        if name != "BORG_UI_HOOK_TYPE":
            assert name not in env, f"{name} leaked into a hook"
    for name, value in PASSED_THROUGH.items():
        assert env[name] == value


@pytest.mark.django_db(transaction=True)
def test_exact_environment_of_repository_and_plan_hooks(tmp_path, hostile_environment):
    log = tmp_path / "env.log"
    source_host = SSHConnection.objects.create(name="web1", host="192.0.2.10", port=2222, username="backup")
    repository = make_repository(tmp_path / "repo")
    repository.source_connection = source_host
    repository.save()
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    script = make_script("env", ENV_DUMP, {"LOG": str(log), "CONTAINER_NAME": "postgres"})
    for owner in (plan, repository):
        attach(owner, script, "pre-backup")
        attach(owner, script, "post-backup")
    run = runs.run_in_foreground(plan)
    job = run.jobs.get()
    plan_pre, repo_pre, repo_post, plan_post = read_envs(log)
    repo_vars = {
        "BORG_UI_REPOSITORY_ID": str(repository.pk),
        "BORG_UI_REPOSITORY_NAME": "main",
        "BORG_UI_REPOSITORY_PATH": str(tmp_path / "repo"),
    }
    remote = {"BORG_UI_REMOTE_HOST": "192.0.2.10", "BORG_UI_REMOTE_PORT": "2222", "BORG_UI_REMOTE_USERNAME": "backup"}
    plan_vars = {"BORG_UI_PLAN_ID": str(plan.pk), "BORG_UI_PLAN_NAME": "nightly", "BORG_UI_PLAN_RUN_ID": str(run.pk)}
    assert borg_ui(plan_pre) == {
        "BORG_UI_HOOK_TYPE": "pre-backup", "BORG_UI_JOB_ID": str(run.pk), **repo_vars, **remote, **plan_vars,
    }  # fmt: skip
    assert borg_ui(repo_pre) == {
        "BORG_UI_HOOK_TYPE": "pre-backup",
        "BORG_UI_JOB_ID": str(job.pk),
        **repo_vars,
        **remote,
    }
    assert borg_ui(repo_post) == {
        "BORG_UI_HOOK_TYPE": "post-backup", "BORG_UI_BACKUP_STATUS": "success", "BORG_UI_JOB_ID": str(job.pk),
        **repo_vars, **remote,
    }  # fmt: skip
    assert borg_ui(plan_post) == {
        "BORG_UI_HOOK_TYPE": "post-backup", "BORG_UI_BACKUP_STATUS": "success", "BORG_UI_JOB_ID": str(run.pk),
        **repo_vars, **remote, **plan_vars,
    }  # fmt: skip
    for env in (plan_pre, repo_pre, repo_post, plan_post):
        _assert_no_borgui_secrets(env)
        assert env["CONTAINER_NAME"] == "postgres" and env["LOG"] == str(log)


@pytest.mark.django_db(transaction=True)
def test_exact_environment_of_script_tests(tmp_path, hostile_environment):
    log = tmp_path / "env.log"
    script = make_script("env", ENV_DUMP, {"LOG": str(log), "CONTAINER_NAME": "postgres"})
    repository = make_repository(tmp_path / "repo", init=False)
    repository.source_connection = SSHConnection.objects.create(name="web1", host="192.0.2.10", username="backup")
    repository.save()

    run_test(create_test(script, "tests"))
    run_test(create_test(script, "tests", repository, "post-backup", "warning", {"CONTAINER_NAME": "db1"}))

    plain, simulated = read_envs(log)
    assert borg_ui(plain) == {"BORG_UI_HOOK_TYPE": "pre-backup"}
    assert borg_ui(simulated) == {
        "BORG_UI_HOOK_TYPE": "post-backup", "BORG_UI_BACKUP_STATUS": "warning",
        "BORG_UI_REPOSITORY_ID": str(repository.pk), "BORG_UI_REPOSITORY_NAME": "main",
        "BORG_UI_REPOSITORY_PATH": str(tmp_path / "repo"),
        "BORG_UI_REMOTE_HOST": "192.0.2.10", "BORG_UI_REMOTE_PORT": "22", "BORG_UI_REMOTE_USERNAME": "backup",
    }  # fmt: skip
    for env, container in ((plain, "postgres"), (simulated, "db1")):
        _assert_no_borgui_secrets(env)
        assert env["CONTAINER_NAME"] == container


@pytest.mark.django_db(transaction=True)
def test_plan_hooks_with_two_repositories_get_no_repository_variables(tmp_path, hostile_environment):
    log = tmp_path / "env.log"
    plan_host = SSHConnection.objects.create(name="plan-host", host="plan.example", port=22, username="u")
    first = make_repository(tmp_path / "one", name="one")
    second = make_repository(tmp_path / "two", name="two")
    plan = make_plan("nightly", [first, second], [make_source_tree(tmp_path / "src")], source_connection=plan_host)
    attach(plan, make_script("env", ENV_DUMP, {"LOG": str(log)}), "pre-backup")
    run = runs.run_in_foreground(plan)
    (env,) = read_envs(log)
    assert borg_ui(env) == {
        "BORG_UI_HOOK_TYPE": "pre-backup",
        "BORG_UI_JOB_ID": str(run.pk),
        "BORG_UI_PLAN_ID": str(plan.pk),
        "BORG_UI_PLAN_NAME": "nightly",
        "BORG_UI_PLAN_RUN_ID": str(run.pk),
        "BORG_UI_REMOTE_HOST": "plan.example",
        "BORG_UI_REMOTE_PORT": "22",
        "BORG_UI_REMOTE_USERNAME": "u",
    }


@pytest.mark.django_db(transaction=True)
def test_inline_hooks_get_source_variables_and_the_plan_source_as_fallback(tmp_path, hostile_environment):
    log = tmp_path / "env.log"
    plan_host = SSHConnection.objects.create(name="plan-host", host="203.0.113.5", port=22, username="root")
    repository = make_repository(tmp_path / "repo")
    repository.pre_backup_script = ENV_DUMP.replace('os.environ["LOG"]', repr(str(log)))
    repository.post_backup_script = repository.pre_backup_script
    repository.approve_inline_hooks()
    repository.save()
    plan = make_plan("nightly", [repository], [tmp_path / "missing"], source_connection=plan_host)
    run = runs.run_in_foreground(plan)
    job = run.jobs.get()
    assert job.status == "warning"
    pre, post = read_envs(log)
    common = {
        "BORG_UI_REPOSITORY_ID": str(repository.pk),
        "BORG_UI_REPOSITORY_NAME": "main",
        "BORG_UI_REPOSITORY_PATH": str(tmp_path / "repo"),
        "BORG_UI_JOB_ID": str(job.pk),
        "BORG_UI_SOURCE_HOST": "203.0.113.5",
        "BORG_UI_SOURCE_PORT": "22",
        "BORG_UI_SOURCE_USERNAME": "root",
    }
    assert borg_ui(pre) == {"BORG_UI_HOOK_TYPE": "pre-backup", **common}
    assert borg_ui(post) == {"BORG_UI_HOOK_TYPE": "post-backup", "BORG_UI_BACKUP_STATUS": "warning", **common}
    _assert_no_borgui_secrets(pre)


@pytest.mark.django_db(transaction=True)
def test_secret_values_never_reach_storage(tmp_path):
    """A secret parameter printed by a hook (split across two writes) is masked in the stored
    output, and appears neither in the database dump nor in plain text anywhere in it."""

    from hooks.models import ScriptParameter

    secret = "s3cr3t-Value-With-Length-40-characters!"
    script = make_script(
        "leaky",
        '#!/bin/bash\nprintf "%s" "${DB_PASSWORD:0:10}"; sleep 0.3; printf "%s\\n" "${DB_PASSWORD:10}"\n'
        'echo "again: $DB_PASSWORD" >&2\n',
        approved=False,
    )
    ScriptParameter.objects.create(script=script, name="DB_PASSWORD", secret=True)
    script.approve("tests")
    repository = make_repository(tmp_path / "repo")
    plan = make_plan("nightly", [repository], [make_source_tree(tmp_path / "src")])
    attach(repository, script, "pre-backup", values={"DB_PASSWORD": secret})
    run = runs.run_in_foreground(plan)
    execution = run.hook_executions.get()
    assert execution.stdout == "***\n" and execution.stderr == "again: ***\n"
    dump = dump_test_database()
    assert "hooks_hookattachment" in dump
    assert secret not in dump and secret[:10] not in dump
