"""Archives with awkward contents, made with real borg, and the source tree to compare with."""

import os
from pathlib import Path

from archives.services import catalog, index
from repositories import borg

NON_UTF8 = b"caf\xe9.txt"  # Latin-1 bytes: not valid UTF-8


def make_awkward_tree(root: Path) -> Path:
    """Spaces, unicode, a leading `-`, symlinks, a hard link, empty dirs, modes, a non-UTF-8 name."""
    (root / "docs" / "sub dir").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "ünïcødé").mkdir()
    (root / "docs" / "report 2024.txt").write_text("quarterly numbers\n" * 50)
    (root / "docs" / "sub dir" / "-leading-dash").write_bytes(os.urandom(3000))
    (root / "docs" / "page.html").write_text("<html><script>alert(1)</script></html>\n")
    (root / "ünïcødé" / "naïve – “quoted”.txt").write_text("unicode content\n")
    secret = root / "docs" / "private.key"
    secret.write_text("not really a key\n")
    secret.chmod(0o600)
    script = root / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    os.symlink("docs/report 2024.txt", root / "link-to-report")
    os.symlink("/nonexistent/target", root / "dangling")
    os.link(root / "docs" / "report 2024.txt", root / "hardlink-to-report")
    with open(os.path.join(os.fsencode(root), NON_UTF8), "wb") as f:
        f.write(b"latin-1 name\n")
    return root


def create_archive(repository, source: Path, name: str) -> borg.BorgResult:
    """`borg create` of SOURCE's contents (relative paths), as someone outside borgui would."""
    result = borg.run(repository, ["create", "--json", "--", f"{repository.location}::{name}", "."], cwd=str(source))
    assert result.ok, result.log_lines
    return result


def indexed_archive(repository, source: Path, name: str):
    """An archive of SOURCE made with real borg, read into borgui's list, with its index built."""
    create_archive(repository, source, name)
    catalog.refresh(repository)
    found = catalog.resolve(repository, name, fresh=False)
    index.ensure(found)
    return found


def source_paths(root: Path) -> dict[str, str]:
    """Every path below ROOT as borg lists it ('?' for bytes that are not UTF-8) → type letter."""
    found = {}
    for directory, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, os.fsencode(root)).decode("utf-8", errors="replace").replace("\ufffd", "?")
            kind = "l" if os.path.islink(full) else "d" if os.path.isdir(full) else "-"
            found[relative] = kind
    return found
