"""Changing a repository's own passphrase, not only the one borgui stores.

The passphrase field of a repository is what borgui opens it with. Changing the
repository's passphrase takes borg (``borg key change-passphrase``), and borgui must store
the new one in the same step, or the next backup cannot open the repository.
"""

from repositories import borg
from repositories.models import Encryption, LeaseMode, Repository
from repositories.services import leases


class PassphraseChangeError(Exception):
    """Why the passphrase was not changed, in one line; nothing changed."""


def change_passphrase(repository: Repository, new_passphrase: str) -> None:
    if not Encryption(repository.encryption).needs_passphrase:
        raise PassphraseChangeError(f"repository {repository.name} is not encrypted: it has no passphrase")
    if not new_passphrase:
        raise PassphraseChangeError("the new passphrase is empty")
    running = leases.holder(repository)
    if running is not None:
        raise PassphraseChangeError(
            f"run {running.pk} of plan {running.plan} is writing {repository.name}; "
            "change the passphrase when it has finished"
        )
    try:  # a web request: refused at once when other borgui work uses the repository
        with leases.hold(repository, LeaseMode.WRITE, "change passphrase (admin)", wait_seconds=0):
            result = borg.change_passphrase(repository, new_passphrase)
    except leases.RepositoryBusy as e:
        raise PassphraseChangeError(f"{e}; change the passphrase when it is free") from e
    if not result.ok:
        raise PassphraseChangeError(f"borg key change-passphrase failed: {result.error_line()}")
