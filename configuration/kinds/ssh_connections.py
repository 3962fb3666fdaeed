"""``ssh_connections:`` entries: an SSH connection by name."""

from configuration import base, schema
from repositories.models import SSHConnection

SECTION, KIND, MODEL = "ssh_connections", "ssh_connection", SSHConnection
# model field → key in the file (the private key is a secret: private_key, _env or _file)
KEYS = {"name": "name", "host": "host", "port": "port", "username": "username", "known_hosts": "known_hosts"}
SHAPE = schema.Mapping(
    {"name": schema.Text(), "host": schema.Text(), "port": schema.Int(), "username": schema.Text(),
     "known_hosts": schema.Text()},
    required=["name"],
    secrets=[schema.SecretSource("private_key", strip_newline=False)],
)  # fmt: skip


def queryset():
    return SSHConnection.objects.all()


def prepare(applier, index: int, data: dict) -> None:
    item = applier.item(SECTION, index, data, SSHConnection)
    obj = item.obj
    before = base.state(obj, [*KEYS, "private_key"])
    for name, key in KEYS.items():
        setattr(obj, name, data.get(key, base.default(SSHConnection, name)))
    keys = dict(KEYS)
    if "private_key" in data:  # not given: the stored key is kept (as in the admin)
        obj.private_key = data["private_key"].value
        keys["private_key"] = data["private_key"].key
    applier.problems += base.full_clean(obj, item.path, keys)
    item.changes = base.changes(before, base.state(obj, before), {**KEYS, "private_key": "private_key"})
    applier.items[SECTION].append(item)


def write(applier) -> None:
    for item in applier.items[SECTION]:
        applier.save(item, KEYS)


def export(exporter, connection: SSHConnection) -> dict:
    out = {
        "name": connection.name,
        "host": connection.host,
        "port": connection.port,
        "username": connection.username,
    }
    if connection.private_key:
        out["private_key_env"] = exporter.ref(
            ("ssh", connection.name, "private_key"),
            f"private key of SSH connection {connection.name}",
        )
    if connection.known_hosts:
        out["known_hosts"] = connection.known_hosts
    return out
