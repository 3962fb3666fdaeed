"""``packages:`` entries: a Debian package to install on the workers (NAME or NAME=VERSION)."""

from django.core.exceptions import ValidationError

from configuration import base, schema
from configuration.base import Item
from configuration.problems import Problem, index_path
from packages_admin.models import PackageInstall
from packages_admin.services import queue_install, record_package
from packages_admin.validators import parse_package_spec

SECTION, KIND, MODEL = "packages", "package", PackageInstall
KEYS = {"name": ""}  # an entry is the name itself
SHAPE = schema.Text()


def queryset():
    return PackageInstall.objects.all()


def names_in(document: dict) -> set[str]:
    names = set()
    for spec in document.get(SECTION, []):
        try:
            names.add(parse_package_spec(spec)[0])
        except ValidationError:
            pass
    return names


def prepare_all(applier) -> None:
    seen: dict[str, int] = {}
    for index, spec in enumerate(applier.doc.get(SECTION, [])):
        path = index_path(SECTION, index)
        try:
            name, _version = parse_package_spec(spec)
        except ValidationError:
            name = None
        if name is not None and name in seen:
            applier.problems.append(Problem(path, f"{name} is already listed as packages[{seen[name]}]"))
            continue
        if name is not None:
            seen[name] = index
        existing = PackageInstall.objects.for_package(name).first() if name else None
        obj = existing or PackageInstall()
        before = obj.name
        obj.name = spec
        applier.problems += base.full_clean(obj, path, KEYS)
        item = Item(SECTION, index, spec, obj, {}, new=existing is None)
        item.changes = [f"was {before}"] if existing is not None and before != spec else []
        applier.items[SECTION].append(item)


def write(applier) -> None:
    for item in applier.items[SECTION]:
        if not item.new and not item.changes:
            continue
        package, created = record_package(item.name)
        queue_install(package, new=created)


def export(exporter, package: PackageInstall) -> str:
    return package.name
