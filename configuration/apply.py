"""Applying a configuration (docs/configuration.md#applying): validate everything, then one transaction.

1. ``schema.check``: the shape of the file, unknown keys, secrets read from the environment
   and files.
2. Prepare: every object of the file is matched by name and its new values are checked
   with the rules the admin uses — the models' ``full_clean()`` — plus the references
   between objects (scripts of hooks, repositories of plans, source connections). What
   each kind of object reads and writes is in its module of ``configuration.kinds``.
3. Write, in one ``transaction.atomic()``: removals (``--prune``), creations and updates,
   then the checks that need the new state in the database (unique locations, parameters
   of attached scripts, plans' repositories and retention conflicts, as the admin does).
4. Side effects, only when all of that passed: ``borg init`` for ``init: true``
   repositories that are missing. A failure there rolls the transaction back (and removes
   the repositories this run initialised on local paths).

Any problem in a step stops before the next; the transaction is rolled back, so a
refused file changes nothing. ``--dry-run`` runs steps 1–3 and always rolls back.
Saving a plan through the ORM arms its schedule (``repositories.signals``), exactly as the
admin's save does; packages are recorded and queued with the admin's own functions (the
queue is sent when the transaction commits).
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import ProtectedError

from configuration import base, schema
from configuration.base import Item
from configuration.kinds import (
    DOCUMENT,
    KINDS,
    TOP_LEVEL_KEYS,
    notifications,
    packages,
    plans,
    repositories,
    scripts,
    ssh_connections,
)
from configuration.problems import ConfigError, Problem, index_path, key_path
from hooks.models import HookAttachment
from packages_admin.models import PackageInstall
from repositories.models import PlanRepository

SECTION_KIND = {kind.SECTION: kind.KIND for kind in KINDS}


@dataclass
class Outcome:
    kind: str
    name: str
    action: str  # created, updated, removed, unchanged
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        detail = f" ({', '.join(self.details)})" if self.details else ""
        return f"{self.action} {self.kind} {self.name}{detail}"


@dataclass
class Report:
    outcomes: list[Outcome]
    dry_run: bool = False

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    def lines(self) -> list[str]:
        lines = ["dry run: nothing is changed; this is what applying the file would do"] if self.dry_run else []
        for kind in (kind.KIND for kind in KINDS):
            for outcome in self.outcomes:
                if outcome.kind == kind and outcome.action != "unchanged":
                    lines.append(outcome.line())
        counts = ", ".join(f"{self.count(a)} {a}" for a in ("created", "updated", "removed", "unchanged"))
        return [*lines, counts]


class _Rollback(Exception):
    pass


class Applier:
    def __init__(self, document: dict, prune: bool):
        self.doc = document
        self.prune = prune
        self.problems: list[Problem] = []
        self.items: dict[str, list[Item]] = {section: [] for section in TOP_LEVEL_KEYS}
        self.removed: list[Outcome] = []
        self.initialised: list[tuple[Path, bool]] = []  # local paths this run initialised, and whether they existed
        self.init_notes: dict[str, str] = {}

    # --- 2. prepare ---------------------------------------------------------------------

    def prepare(self) -> None:
        self.existing = {kind.SECTION: {o.name: o for o in kind.queryset()} for kind in KINDS if kind is not packages}
        self._check_duplicate_names()
        if self.problems:
            return
        self.to_remove = {section: self._prune_names(section) for section in TOP_LEVEL_KEYS}
        for kind in (ssh_connections, scripts, repositories, plans, notifications):
            for index, data in enumerate(self.doc.get(kind.SECTION, [])):
                kind.prepare(self, index, data)
        packages.prepare_all(self)

    def _check_duplicate_names(self) -> None:
        for section in self.existing:
            seen: dict[str, int] = {}
            for index, data in enumerate(self.doc.get(section, [])):
                name = data["name"]
                if name in seen:
                    self.problems.append(
                        Problem(
                            key_path(index_path(section, index), "name"),
                            f"{name} is already the name of {index_path(section, seen[name])}",
                        )
                    )
                seen.setdefault(name, index)

    def _file_names(self, section: str) -> set[str]:
        if section == packages.SECTION:
            return packages.names_in(self.doc)
        return {data["name"] for data in self.doc.get(section, [])}

    def _prune_names(self, section: str) -> list[str]:
        if not self.prune or section not in self.doc:
            return []
        wanted = self._file_names(section)
        if section == packages.SECTION:
            return sorted(p.name for p in PackageInstall.objects.all() if p.package_name not in wanted)
        return sorted(set(self.existing[section]) - wanted)

    def known(self, section: str) -> set[str]:
        """Names a reference may use: in the file, or in the database and not being removed."""
        return self._file_names(section) | (set(self.existing[section]) - set(self.to_remove[section]))

    def reference(self, data: dict, key: str, section: str, what: str, path: str) -> None:
        name = data.get(key)
        if name is not None and name not in self.known(section):
            self.problems.append(Problem(key_path(path, key), f"no {what} named {name}"))

    def item(self, section: str, index: int, data: dict, model) -> Item:
        existing = self.existing[section].get(data["name"])
        obj = existing if existing is not None else model(name=data["name"])
        return Item(section, index, data["name"], obj, data, new=existing is None)

    # --- 3. write -----------------------------------------------------------------------------

    def write(self) -> None:
        steps = (
            lambda: self.remove(plans.SECTION),
            lambda: ssh_connections.write(self),
            lambda: scripts.write(self),
            lambda: repositories.remove(self),
            lambda: repositories.write(self),
            lambda: plans.write(self),
            lambda: self.remove(notifications.SECTION),
            lambda: notifications.write(self),
            lambda: self.remove(scripts.SECTION),
            lambda: self.remove(ssh_connections.SECTION),
            lambda: packages.write(self),
            lambda: self.remove(packages.SECTION),
            lambda: plans.check(self),
        )
        for step in steps:
            step()
            if self.problems:
                return

    def save(self, item: Item, keys: dict[str, str]) -> bool:
        if not item.new and not item.changes:
            return True
        problems = base.validate_unique(item.obj, item.path, keys)
        if problems:
            self.problems += problems
            return False
        item.obj.save()
        return True

    def objects(self, section: str) -> dict:
        objects = {name: obj for name, obj in self.existing[section].items() if name not in self.to_remove[section]}
        objects.update({item.name: item.obj for item in self.items[section]})
        return objects

    def remove(self, section: str) -> None:
        kind = SECTION_KIND[section]
        for name in self.to_remove[section]:
            if section == packages.SECTION:
                objects = PackageInstall.objects.filter(name=name)
            else:
                objects = self.existing[section][name].__class__.objects.filter(name=name)
            try:
                with transaction.atomic():
                    for obj in objects:
                        obj.delete()
            except ProtectedError as e:
                users = sorted({_describe(o) for o in e.protected_objects})
                self.problems.append(
                    Problem(section, f"--prune cannot remove {kind} {name}: still used by {', '.join(users)}")
                )
                continue
            self.removed.append(Outcome(kind, name, "removed"))

    # --- 4. side effects ------------------------------------------------------------------------

    def initialise(self) -> None:
        repositories.initialise(self)

    def undo_initialise(self) -> None:
        """Remove what borg init created on local paths (each was empty or absent before)."""
        for path, existed in self.initialised:
            if existed:
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            else:
                shutil.rmtree(path, ignore_errors=True)

    # --- report -------------------------------------------------------------------------------

    def outcomes(self, dry_run: bool) -> list[Outcome]:
        outcomes = []
        for section in TOP_LEVEL_KEYS:
            kind = SECTION_KIND[section]
            for item in self.items[section]:
                details = list(item.changes) if not item.new else []
                if section == repositories.SECTION and item.init:
                    details.append("borg init" if dry_run else self.init_notes.get(item.name, "borg init"))
                if item.new:
                    action = "created"
                elif details:
                    action = "updated"
                else:
                    action = "unchanged"
                outcomes.append(Outcome(kind, item.name, action, details))
            outcomes.extend(o for o in self.removed if o.kind == kind)
        return outcomes


def _describe(obj) -> str:
    if isinstance(obj, HookAttachment):
        owner = obj.repository or obj.plan
        return f"a {obj.hook_type} hook of {'repository' if obj.repository_id else 'plan'} {owner}"
    if isinstance(obj, PlanRepository):
        return f"plan {obj.plan}"
    return f"{obj._meta.verbose_name} {obj}"


def apply(document, *, source: str = "", prune: bool = False, dry_run: bool = False, env=None) -> Report:
    """Apply a parsed configuration; raise ConfigError (nothing changed) when it is refused."""
    normalised, problems = schema.check(document, DOCUMENT, source, env)
    if problems:
        raise ConfigError(problems)
    applier = Applier(normalised, prune)
    try:
        with transaction.atomic():
            applier.prepare()
            if applier.problems:
                raise _Rollback
            applier.write()
            if applier.problems or dry_run:
                raise _Rollback
            applier.initialise()
            if applier.problems:
                raise _Rollback
    except _Rollback:
        applier.undo_initialise()
        if applier.problems:
            raise ConfigError(applier.problems) from None
    except BaseException:
        applier.undo_initialise()
        raise
    return Report(applier.outcomes(dry_run), dry_run=dry_run)
