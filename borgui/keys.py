"""Create the key files borgui needs, when they are missing.

Run as ``python -m borgui.keys [DATA_DIR]`` by ``make run`` and the image's entrypoint.
It imports neither Django nor the settings: the settings refuse to start without keys,
and they never generate any themselves (a key made on the fly would make every stored
secret unreadable after the next restart).
"""

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEY_FILE = "encryption.key"
KEEP_NOTE = {ENCRYPTION_KEY_FILE: " (back it up: stored passphrases and keys are encrypted with it)"}


def default_data_dir() -> Path:
    raw = os.environ.get("BORGUI_DATA_DIR")
    if raw:
        return Path(raw).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "data"


def _write_private(path: Path, content: str) -> None:
    # O_EXCL: never overwrite a key that appeared meanwhile (two containers starting at once).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content + "\n")


def ensure_keys(data_dir: Path) -> list[str]:
    """Create missing key files in ``data_dir``; return the names of those created.

    A key given through the environment (SECRET_KEY, BORGUI_ENCRYPTION_KEY or their
    *_FILE forms) wins, and no file is created for it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    created = []
    wanted = {
        "SECRET_KEY": (SECRET_KEY_FILE, lambda: secrets.token_urlsafe(50)),
        "BORGUI_ENCRYPTION_KEY": (ENCRYPTION_KEY_FILE, lambda: Fernet.generate_key().decode()),
    }
    for variable, (file_name, make_key) in wanted.items():
        if os.environ.get(variable) or os.environ.get(f"{variable}_FILE"):
            continue
        path = data_dir / file_name
        if path.exists():
            continue
        try:
            _write_private(path, make_key())
        except FileExistsError:
            continue
        created.append(file_name)
    return created


def main(argv: list[str]) -> int:
    data_dir = Path(argv[0]).resolve() if argv else default_data_dir()
    try:
        created = ensure_keys(data_dir)
    except OSError as e:
        print(f"borgui: cannot create keys in {data_dir}: {e.strerror}", file=sys.stderr)
        return 1
    for name in created:
        why = KEEP_NOTE.get(name, "")
        print(f"created {data_dir / name}{why}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
