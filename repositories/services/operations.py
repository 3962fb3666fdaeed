"""Repository actions of the admin that run borg (initialise, import check, check, list):
queued on the worker, under the repository's lease (docs/archives.md, "Locks"), and
followed by the page that queued them; a web request never waits on borg or a lease."""

from collections.abc import Callable
from dataclasses import dataclass

from django_q.models import Task
from django_q.tasks import async_task

from repositories import borg
from repositories.models import LeaseMode, Repository
from repositories.services import leases


@dataclass(frozen=True)
class Operation:
    verb: str
    mode: LeaseMode
    run: Callable[[Repository], borg.BorgResult]
    describe: Callable[[Repository, borg.BorgResult], str]


def _imported(repository, result):
    borg.mark_initialised(repository)
    repository_id = result.json().get("repository", {}).get("id", "?")
    return f"opened with the stored passphrase (repository id {repository_id[:12]})"


def _listed(repository, result):
    archives = [archive["name"] for archive in result.json().get("archives", [])]
    return f"{len(archives)} archive(s); latest: {', '.join(archives[-10:]) or 'none'}"


OPERATIONS = {
    "init": Operation("init", LeaseMode.WRITE, borg.init, lambda r, res: f"initialised ({r.encryption})"),
    "import": Operation("import", LeaseMode.INFO, borg.info, _imported),
    "check": Operation("check", LeaseMode.WRITE, borg.check, lambda r, res: "check passed"),
    "list": Operation("list", LeaseMode.READ, borg.list_archives, _listed),
}


def run_operation(name: str, repository_id: int) -> dict:
    """The worker's side: {ok, message}, the message as the page shows it."""
    operation = OPERATIONS[name]
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        return {"ok": False, "message": f"repository {repository_id} was deleted"}
    try:
        with leases.hold(repository, operation.mode, f"{operation.verb} of {repository.name} (admin)"):
            result = operation.run(repository)
    except leases.RepositoryBusy as e:
        return {"ok": False, "message": f"{repository.name}: {operation.verb} not run: {e}"}
    if result.ok:
        return {"ok": True, "message": f"{repository.name}: {operation.describe(repository, result)}"}
    if name == "init" and "Repository.AlreadyExists" in result.msgids:
        # borgui had not seen it initialised (an imported or configured one): now it knows.
        return {"ok": True, "message": f"{repository.name}: already initialised"}
    return {"ok": False, "message": f"{repository.name}: {operation.verb} failed: {result.error_line()}"}


def queue(name: str, repository: Repository) -> str:
    return async_task("repositories.services.operations.run_operation", name, repository.pk)


def results(task_ids: list[str]) -> list[dict | None]:
    """Each queued operation's result, None while it has not finished."""
    done = {task.id: task for task in Task.objects.filter(id__in=task_ids)}
    found = []
    for task_id in task_ids:
        task = done.get(task_id)
        if task is None:
            found.append(None)
        elif not task.success:
            found.append({"ok": False, "message": f"internal error: {str(task.result)[:300]}"})
        else:
            found.append(task.result)
    return found
