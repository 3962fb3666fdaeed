"""apply_config's behaviour (docs/configuration.md#applying): dry run, prune, borg init and its rollback, review
state, hook lists, secrets kept, schedules, standard input."""

import copy

import pytest
from django_q.models import Schedule

from hooks.models import HookAttachment, Script, ScriptApproval
from packages_admin.models import PackageInstall
from repositories import borg
from repositories.models import BackupPlan, Repository, SSHConnection
from repositories.services.scheduling import schedule_name
from tests.configkit import BASE, apply_file, snapshot, write

pytestmark = pytest.mark.django_db

CREATED_LINES = [
    "created ssh_connection web1",
    "created script stop-db",
    "created script start-db",
    "created repository main",
    "created repository offsite",
    "created plan nightly",
    "created package docker.io",
    "7 created, 0 updated, 0 removed, 0 unchanged",
]


def base(**changes):
    document = copy.deepcopy(BASE)
    document.update(changes)
    return document


def test_dry_run_prints_what_would_change_and_changes_nothing(tmp_path):
    before = snapshot()
    code, out, err = apply_file(write(tmp_path, BASE), "--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["dry run: nothing is changed; this is what applying the file would do", *CREATED_LINES]
    assert snapshot() == before

    assert apply_file(write(tmp_path, BASE))[1].splitlines() == CREATED_LINES
    applied = snapshot()
    changed = base()
    changed["plans"][0]["schedule"] = "30 4 * * *"
    changed["plans"][0]["retention"] = {"keep_daily": 7, "keep_weekly": 4}
    changed["repositories"][0]["pre_backup_script"] = "#!/bin/sh\necho hi\n"
    changed["scripts"][1]["approved"] = True
    code, out, _ = apply_file(write(tmp_path, changed), "--dry-run")
    assert out.splitlines()[1:] == [
        "updated script start-db (approved)",
        "updated repository main (pre_backup_script)",
        "updated plan nightly (schedule, retention)",
        "0 created, 3 updated, 0 removed, 4 unchanged",
    ]
    assert snapshot() == applied
    # The same file for real: the same lines, and a second time nothing to do.
    assert apply_file(write(tmp_path, changed))[1].splitlines() == out.splitlines()[1:]
    assert apply_file(write(tmp_path, changed))[1] == "0 created, 0 updated, 0 removed, 7 unchanged\n"


def test_prune_removes_what_the_file_does_not_name_only_in_its_sections(tmp_path):
    bigger = base()
    bigger["scripts"].append({"name": "old-script", "body": "#!/bin/sh\necho old\n"})
    bigger["repositories"].append({"name": "old-repo", "path": "/backups/old", "encryption": "none"})
    bigger["plans"].append({"name": "old-plan", "repositories": ["old-repo", "main"], "sources": ["/srv"]})
    bigger["packages"].append("hello")
    assert apply_file(write(tmp_path, bigger))[0] == 0

    smaller = base()
    del smaller["scripts"]  # no scripts section: scripts are left alone, even with --prune
    before = snapshot()
    code, out, _ = apply_file(write(tmp_path, smaller), "--prune", "--dry-run")
    assert code == 0
    assert out.splitlines()[1:] == [
        "removed repository old-repo",
        "removed plan old-plan",
        "removed package hello",
        "0 created, 0 updated, 3 removed, 5 unchanged",
    ]
    assert snapshot() == before

    # Without --prune nothing is removed.
    assert apply_file(write(tmp_path, smaller))[1] == "0 created, 0 updated, 0 removed, 5 unchanged\n"
    assert Repository.objects.filter(name="old-repo").exists()

    code, out, _ = apply_file(write(tmp_path, smaller), "--prune")
    assert out.splitlines()[-1] == "0 created, 0 updated, 3 removed, 5 unchanged"
    assert sorted(Repository.objects.values_list("name", flat=True)) == ["main", "offsite"]
    assert list(BackupPlan.objects.values_list("name", flat=True)) == ["nightly"]
    assert list(PackageInstall.objects.values_list("name", flat=True)) == ["docker.io"]
    assert Script.objects.filter(name="old-script").exists()

    # A repository renamed in the file: with --prune the new name takes over the location.
    renamed = base()
    del renamed["scripts"]
    renamed["repositories"][0]["name"] = "primary"
    renamed["plans"][0]["repositories"] = ["primary"]
    code, out, err = apply_file(write(tmp_path, renamed), "--prune")
    assert (code, err) == (0, "")
    assert out.splitlines()[:-1] == [
        "created repository primary",
        "removed repository main",
        "updated plan nightly (repositories)",
    ]
    assert BackupPlan.objects.get().ordered_repositories() == [Repository.objects.get(name="primary")]


def test_prune_refuses_to_remove_what_an_object_outside_the_file_still_uses(tmp_path):
    assert apply_file(write(tmp_path, BASE))[0] == 0
    before = snapshot()
    only_scripts = {"scripts": [BASE["scripts"][1]]}  # stop-db is attached to plan nightly, not in this file
    code, out, err = apply_file(write(tmp_path, only_scripts), "--prune")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "scripts: --prune cannot remove script stop-db: still used by a pre-backup hook of plan nightly"
    ]
    assert snapshot() == before


def test_init_true_initialises_a_missing_repository_once(tmp_path):
    location = tmp_path / "repo"
    document = {
        "repositories": [
            {"name": "main", "path": str(location), "encryption": "repokey-blake2", "passphrase": "pw", "init": True}
        ]
    }
    code, out, _ = apply_file(write(tmp_path, document), "--dry-run")
    assert out.splitlines()[1:] == [
        "created repository main (borg init)",
        "1 created, 0 updated, 0 removed, 0 unchanged",
    ]
    assert not location.exists()  # a dry run initialises nothing
    code, out, err = apply_file(write(tmp_path, document))
    assert (code, err) == (0, "")
    assert out.splitlines() == ["created repository main (borg init)", "1 created, 0 updated, 0 removed, 0 unchanged"]
    assert borg.info(Repository.objects.get()).ok  # opens with the stored passphrase
    config = (location / "config").stat().st_mtime_ns
    assert apply_file(write(tmp_path, document))[1] == "0 created, 0 updated, 0 removed, 1 unchanged\n"
    assert (location / "config").stat().st_mtime_ns == config


def test_a_failed_init_rolls_back_the_whole_file_and_what_was_initialised(tmp_path):
    assert apply_file(write(tmp_path, BASE))[0] == 0
    before = snapshot()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("not a repository")
    document = base()
    document["repositories"] += [
        {"name": "fresh", "path": str(tmp_path / "fresh"), "encryption": "none", "init": True},
        {"name": "occupied", "path": str(occupied), "encryption": "none", "init": True},
    ]
    document["plans"][0]["repositories"] = ["main", "fresh", "occupied"]
    code, out, err = apply_file(write(tmp_path, document))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"repositories[3].init: borg init failed: ERROR: There is already something at {occupied}."
    ]
    assert snapshot() == before
    assert not (tmp_path / "fresh").exists()  # borg init of the first one was undone
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]


def test_a_validation_failure_runs_no_borg_init(tmp_path):
    document = base()
    document["repositories"][0].update(path=str(tmp_path / "repo"), init=True)
    document["plans"][0]["schedule"] = "every night"
    code, _, err = apply_file(write(tmp_path, document))
    assert code == 2 and err.startswith("plans[0].schedule:")
    assert not (tmp_path / "repo").exists()


def test_approved_true_approves_false_revokes_omitted_leaves_alone(tmp_path):
    document = base()
    apply_file(write(tmp_path, document))
    stop, start = Script.objects.get(name="stop-db"), Script.objects.get(name="start-db")
    assert stop.is_approved and stop.approved_by == "apply_config"
    assert list(ScriptApproval.objects.filter(script=stop).values_list("approved_by", flat=True)) == ["apply_config"]
    assert not start.is_approved  # approved omitted on a new script: not approved

    start.approve("alice")  # a reviewer approves it in the admin; the file does not say anything
    assert apply_file(write(tmp_path, document))[1] == "0 created, 0 updated, 0 removed, 7 unchanged\n"
    assert Script.objects.get(name="start-db").approved_by == "alice"

    document["scripts"][0]["approved"] = False
    document["scripts"][1]["body"] += "echo changed\n"  # approval omitted: a new body is not approved
    code, out, _ = apply_file(write(tmp_path, document))
    assert out.splitlines()[:-1] == [
        "updated script stop-db (approval revoked)",
        "updated script start-db (body, no longer approved)",
    ]
    assert not Script.objects.get(name="stop-db").is_approved
    assert not Script.objects.get(name="start-db").is_approved

    document["scripts"][1]["approved"] = True
    apply_file(write(tmp_path, document))
    start = Script.objects.get(name="start-db")
    assert start.is_approved and start.approved_by == "apply_config"
    assert ScriptApproval.objects.filter(script=start).count() == 2


def test_inline_repository_hooks_are_approved_as_applied(tmp_path):
    document = base()
    document["repositories"][0]["pre_backup_script"] = "#!/bin/sh\necho before\n"
    apply_file(write(tmp_path, document))
    repository = Repository.objects.get(name="main")
    assert repository.inline_hook_approved("pre-backup")
    assert not repository.inline_hook_approved("post-backup")  # there is none
    # Changed in the admin by someone without the approve permission: applying the file approves its body again.
    Repository.objects.filter(pk=repository.pk).update(pre_backup_script="#!/bin/sh\nrm -rf /\n")
    code, out, _ = apply_file(write(tmp_path, document))
    assert out.splitlines()[0] == "updated repository main (pre_backup_script)"
    repository.refresh_from_db()
    assert repository.pre_backup_script == "#!/bin/sh\necho before\n" and repository.inline_hook_approved("pre-backup")


def hooks_of(plan_name: str) -> list[tuple]:
    return [
        (a.hook_type, a.order, a.script.name, a.values())
        for a in HookAttachment.objects.filter(plan__name=plan_name).order_by("hook_type", "order", "id")
    ]


def test_hook_lists_in_the_file_replace_the_attachments_in_order(tmp_path):
    apply_file(write(tmp_path, BASE))
    assert hooks_of("nightly") == [
        ("post-backup", 0, "start-db", {}),
        ("pre-backup", 0, "stop-db", {"CONTAINER_NAME": "db1"}),
        ("pre-backup", 1, "stop-db", {}),
    ]
    document = base()
    plan = document["plans"][0]
    # The order of the list is the execution order; post-backup is not given: left as it is.
    plan["hooks"] = {
        "pre-backup": [
            {"script": "stop-db", "on_failure": "skip"},
            {"script": "stop-db", "parameters": {"CONTAINER_NAME": "db2"}},
            {"script": "stop-db", "parameters": {"CONTAINER_NAME": ""}},  # empty: the default applies
        ]
    }
    code, out, _ = apply_file(write(tmp_path, document))
    assert out.splitlines()[0] == "updated plan nightly (hooks.pre-backup)"
    assert hooks_of("nightly") == [
        ("post-backup", 0, "start-db", {}),
        ("pre-backup", 0, "stop-db", {}),
        ("pre-backup", 1, "stop-db", {"CONTAINER_NAME": "db2"}),
        ("pre-backup", 2, "stop-db", {}),
    ]
    assert HookAttachment.objects.get(plan__name="nightly", order=0, hook_type="pre-backup").on_failure == "skip"

    del plan["hooks"]  # no hooks key: the attachments are left alone
    assert apply_file(write(tmp_path, document))[1].endswith("0 updated, 0 removed, 7 unchanged\n")
    assert len(hooks_of("nightly")) == 4

    plan["hooks"] = {"pre-backup": [], "post-backup": []}
    code, out, _ = apply_file(write(tmp_path, document))
    assert out.splitlines()[0] == "updated plan nightly (hooks.pre-backup, hooks.post-backup)"
    assert hooks_of("nightly") == []


def test_stated_defaults_count_as_unchanged(tmp_path):
    apply_file(write(tmp_path, BASE))
    document = base()
    plan = document["plans"][0]
    plan.update(compression="lz4", archive_name="{plan}-{now}", enabled=True, on_repository_failure="continue")
    plan["hooks"]["pre-backup"][0].update(on_failure="fail", enabled=True)
    plan["hooks"]["post-backup"][0].update(on_failure="continue")
    document["ssh_connections"][0]["port"] = 22
    assert apply_file(write(tmp_path, document))[1] == "0 created, 0 updated, 0 removed, 7 unchanged\n"


def test_secrets_come_from_env_or_files_and_an_omitted_one_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("MAIN_PASSPHRASE", "from the environment")
    (tmp_path / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    document = base()
    document["repositories"][0].update(encryption="repokey", passphrase_env="MAIN_PASSPHRASE")
    document["ssh_connections"][0]["private_key_file"] = str(tmp_path / "key")
    code, out, err = apply_file(write(tmp_path, document))
    assert (code, err) == (0, "")
    assert "from the environment" not in out
    assert Repository.objects.get(name="main").passphrase == "from the environment"
    assert "AAAA" in SSHConnection.objects.get().private_key

    del document["repositories"][0]["passphrase_env"]  # not given: the stored one is kept
    del document["ssh_connections"][0]["private_key_file"]
    assert apply_file(write(tmp_path, document))[1] == "0 created, 0 updated, 0 removed, 7 unchanged\n"
    assert Repository.objects.get(name="main").passphrase == "from the environment"

    (tmp_path / "passphrase").write_text("from a file\n")  # the final newline is not part of it
    document["repositories"][0]["passphrase_file"] = str(tmp_path / "passphrase")
    code, out, _ = apply_file(write(tmp_path, document))
    assert out.splitlines()[0] == "updated repository main (passphrase)"
    assert Repository.objects.get(name="main").passphrase == "from a file"


def test_a_plan_with_a_schedule_gets_the_schedule_the_admin_save_makes(tmp_path):
    apply_file(write(tmp_path, BASE))
    plan = BackupPlan.objects.get(name="nightly")
    fields = ["name", "func", "args", "kwargs", "schedule_type", "repeats", "next_run", "intended_date_kwarg"]
    applied = Schedule.objects.filter(name=schedule_name(plan)).values(*fields).get()
    assert applied["func"] == "repositories.tasks.run_scheduled_plan" and applied["args"] == repr((plan.pk,))
    Schedule.objects.filter(name=schedule_name(plan)).delete()
    plan.save()  # what the admin's save does (ModelAdmin.save_model)
    assert Schedule.objects.filter(name=schedule_name(plan)).values(*fields).get() == applied

    document = base()
    document["plans"][0]["enabled"] = False
    apply_file(write(tmp_path, document))
    assert not Schedule.objects.filter(name=schedule_name(plan)).exists()


@pytest.mark.django_db(transaction=True)
def test_stdin_and_the_queue_of_packages(manage, tmp_path):
    text = write(tmp_path, {"packages": ["hello=2.10-3"]}).read_text()
    result = manage("apply_config", "-", input=text)
    assert (result.returncode, result.stdout) == (
        0,
        "created package hello=2.10-3\n1 created, 0 updated, 0 removed, 0 unchanged\n",
    )
    package = PackageInstall.objects.get()
    assert package.status == PackageInstall.Status.PENDING  # recorded and queued for the worker, not installed
    from django_q.models import OrmQ

    assert [q.task["args"] for q in OrmQ.objects.all()] == [(package.pk,)]
    result = manage("apply_config", "-", input="packages: [hello]\n")
    assert result.stdout.splitlines() == [
        "updated package hello (was hello=2.10-3)",
        "0 created, 1 updated, 0 removed, 0 unchanged",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_file_refused_after_its_changes_were_written_is_rolled_back_for_real(manage, tmp_path):
    """Retention conflicts are checked with every plan of the file in the database (as the
    admin checks them): in the transaction, which is then rolled back — committed state
    seen by another process stays as it was, schedules included."""
    assert manage("apply_config", str(write(tmp_path, BASE))).returncode == 0
    before = snapshot()
    document = base()
    document["plans"][0]["schedule"] = "15 1 * * *"
    second = copy.deepcopy(document["plans"][0])
    second.update(name="nightly-db", hooks={})
    document["plans"].append(second)
    result = manage("apply_config", str(write(tmp_path, document)))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "plans[0].repositories: Retention refused: on repository main the archives of plan nightly-db "
        "(nightly-db-…) match this plan's prefix nightly-…: prune could delete them; give the plans distinct name "
        "starts or separate repositories"
    ]
    assert snapshot() == before
