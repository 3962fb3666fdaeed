"""Retention prunes only the archives the plan made (docs/running-plans.md#retention), on a shared repository."""

import pytest

from repositories import borg
from repositories.services import runs
from tests.factories import make_plan, make_repository, make_source_tree

pytestmark = pytest.mark.django_db(transaction=True)


def _names(repository) -> list[str]:
    return sorted(archive["name"] for archive in borg.list_archives(repository).json()["archives"])


def test_prune_keeps_other_plans_archives_on_a_shared_repository(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src")
    # "nightly-full" starts with "nightly": pruning it must not touch "nightly-…" archives.
    full = make_plan("nightly-full", [repository], [source], keep_within="", keep_daily=1)
    nightly = make_plan("nightly", [repository], [source])
    for plan in (nightly, nightly, full, full, full):
        assert runs.run_in_foreground(plan).status == "success"
    names = _names(repository)
    assert len([n for n in names if n.startswith("nightly-full-")]) == 1, "keep_daily=1 keeps one a day"
    assert len([n for n in names if not n.startswith("nightly-full-")]) == 2, "the other plan's archives stay"
    assert "1 archive(s) pruned" in full.runs.order_by("-id").first().log


def test_retention_that_would_reach_another_plans_archives_is_refused_at_prune_time(tmp_path):
    repository = make_repository(tmp_path / "repo")
    source = make_source_tree(tmp_path / "src")
    other = make_plan("nightly-full", [repository], [source])
    # Saved without the admin's check (e.g. the other plan was added later): prune still refuses.
    risky = make_plan("nightly", [repository], [source], keep_daily=1)
    for plan in (other, other, risky, risky):
        runs.run_in_foreground(plan)
    assert len(_names(repository)) == 4, "nothing was pruned"
    run = risky.runs.order_by("-id").first()
    assert run.status == "warning"
    assert "prune refused: on repository main the archives of plan nightly-full" in run.log
