"""What borg alone needs to open a repository without borgui (docs/restore-without-borgui.md)."""

import shlex

from repositories.borg import connection_for_location
from repositories.models import Encryption, Repository


def kit(repository: Repository) -> str:
    encryption = Encryption(repository.encryption)
    location = shlex.quote(repository.location)
    lines = [
        f"## repository {repository.name}",
        f"location:   {repository.location}",
        f"encryption: {encryption.value}",
    ]
    if repository.is_remote:
        connection = connection_for_location(repository.location)
        via = "the worker's own SSH set-up"
        if connection is not None:
            via = f"SSH connection {connection.name} ({connection.username}@{connection.host}:{connection.port})"
        lines.append(f"reached by: {via}; borg needs the same SSH key (BORG_RSH='ssh -i KEY')")
    env = []
    if encryption.needs_passphrase:
        lines.append(f"passphrase: {repository.passphrase}")
        env.append(f"export BORG_PASSPHRASE={shlex.quote(repository.passphrase)}")
    else:
        env.append("export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes")
    if encryption.uses_keyfile:
        key_file = f"borg-key-{repository.name}"
        if repository.exported_key:
            lines += [f"key file (save it as {key_file}):", repository.exported_key.strip()]
            env.append(f"export BORG_KEY_FILE=$PWD/{shlex.quote(key_file)}")
        else:
            lines.append("key file:   NOT STORED in borgui: find it in ~/.config/borg/keys of the machine that made it")
    elif encryption.needs_passphrase:
        lines.append("key:        inside the repository (repokey): only the passphrase is needed")
    lines += [
        "commands:",
        *(f"  {line}" for line in env),
        f"  borg list {location}",
        f"  borg extract --list {location}::ARCHIVE [PATH…]   # into the current directory",
        "",
    ]
    return "\n".join(lines)
