"""``repositories:`` entries: a borg repository, its secrets, inline hooks and hooks."""

from pathlib import Path

from configuration import base, schema
from configuration.kinds import hooks, maintenance
from configuration.problems import Problem, key_path
from repositories import borg
from repositories.models import Encryption, PlanRepository, Repository

SECTION, KIND, MODEL = "repositories", "repository", Repository
# model field → key in the file (passphrase and exported_key are secrets: KEY, KEY_env or KEY_file)
KEYS = {
    "name": "name",
    "location": "path",
    "encryption": "encryption",
    "pre_backup_script": "pre_backup_script",
    "post_backup_script": "post_backup_script",
    "source_connection": "source_connection",
}
SECRETS = ("passphrase", "exported_key")
SHAPE = schema.Mapping(
    {
        "name": schema.Text(),
        "path": schema.Text(),
        "encryption": schema.Choice(Encryption.values),
        "init": schema.Bool(),
        "source_connection": schema.Text(),
        "pre_backup_script": schema.Text(),
        "post_backup_script": schema.Text(),
        **maintenance.REPOSITORY_SHAPE,
        "hooks": hooks.SHAPE,
    },
    required=["name"],
    secrets=[schema.SecretSource("passphrase"), schema.SecretSource("exported_key", strip_newline=False)],
)


def prepare(applier, index: int, data: dict) -> None:
    item = applier.item(SECTION, index, data, Repository)
    obj = item.obj
    compared = {**KEYS, **{secret: secret for secret in SECRETS}}
    before = base.state(obj, [*compared, "pre_backup_approved_hash", "post_backup_approved_hash"])
    for name, key in KEYS.items():
        if name != "source_connection":
            setattr(obj, name, data.get(key, base.default(Repository, name)))
    keys = dict(KEYS)
    for secret in SECRETS:
        keys[secret] = secret
        if secret in data:  # not given: the stored one is kept (as in the admin)
            setattr(obj, secret, data[secret].value)
            keys[secret] = data[secret].key
    # The operator of the machine applied these inline hooks: they are approved as applied.
    obj.approve_inline_hooks()
    applier.problems += base.full_clean(obj, item.path, keys, exclude=["source_connection"])
    applier.reference(data, "source_connection", "ssh_connections", "SSH connection", item.path)
    item.source_connection = data.get("source_connection")
    after = base.state(obj, before, source_connection=data.get("source_connection"))
    item.changes = base.changes(before, after, compared)
    for name in ("pre_backup_script", "post_backup_script"):
        hash_name = name.replace("_script", "_approved_hash")
        if before[hash_name] != after[hash_name] and name not in item.changes:
            item.changes.append(f"{name} approved")
    item.init = bool(data.get("init")) and _storage_missing(obj, item.new, before["location"])
    maintenance.prepare_repository(applier, item)
    hooks.prepare(applier, item)
    applier.items[SECTION].append(item)


def _storage_missing(obj: Repository, new: bool, old_location: str) -> bool:
    """Whether `init: true` should run borg init. A local path is looked at (no borg
    repository there: no `config` file); a remote one is not contacted except to be
    initialised when it is new to borgui or moved (an existing one then answers
    "already exists", which is fine)."""
    if obj.is_remote:
        return new or old_location != obj.location
    return not (Path(obj.location) / "config").is_file()


def remove(applier) -> None:
    # Plans of the file are given their repositories later; their links to repositories
    # being removed go first, so that only links of plans kept as they are protect one.
    names = applier.to_remove[SECTION]
    if names:
        PlanRepository.objects.filter(
            repository__name__in=names, plan__name__in=[item.name for item in applier.items["plans"]]
        ).delete()
    applier.remove(SECTION)


def write(applier) -> None:
    connections = applier.objects("ssh_connections")
    for item in applier.items[SECTION]:
        name = item.source_connection
        item.obj.source_connection = connections[name] if name else None
        if applier.save(item, {**KEYS, "passphrase": "passphrase"}):
            maintenance.write(applier, item, "repository")
            hooks.write(applier, item, "repository")


def initialise(applier) -> None:
    """borg init of the `init: true` repositories that are missing, after the write."""
    for item in applier.items[SECTION]:
        if not item.init:
            continue
        repository = item.obj
        local = None if repository.is_remote else Path(repository.location)
        existed = local is not None and local.exists()
        result = borg.init(repository)
        if result.ok:
            if local is not None:
                applier.initialised.append((local, existed))
            applier.init_notes[item.name] = "borg init"
        elif "Repository.AlreadyExists" in result.msgids:
            applier.init_notes[item.name] = "already initialised"
        else:
            applier.problems.append(Problem(key_path(item.path, "init"), f"borg init failed: {result.error_line()}"))
            return


def queryset():
    return Repository.objects.select_related("source_connection", "maintenance")


def export(exporter, repository: Repository) -> dict:
    out = {"name": repository.name, "path": repository.location, "encryption": repository.encryption}
    if repository.passphrase:
        out["passphrase_env"] = exporter.ref(
            ("repository", repository.name, "passphrase"),
            f"passphrase of repository {repository.name}",
        )
    if repository.exported_key:
        out["exported_key_env"] = exporter.ref(
            ("repository", repository.name, "exported_key"),
            f"borg key (keyfile mode) of repository {repository.name}",
        )
    if repository.source_connection_id:
        out["source_connection"] = repository.source_connection.name
    if repository.pre_backup_script:
        out["pre_backup_script"] = repository.pre_backup_script
    if repository.post_backup_script:
        out["post_backup_script"] = repository.post_backup_script
    out.update(maintenance.export_repository(repository))
    out["hooks"] = hooks.export(exporter, repository, "repository")
    return out
