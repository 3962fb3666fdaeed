"""The sudoers rule that lets a non-root borgui run exactly its two apt-get commands.

Not "apt-get with any arguments": that is root for anything running as the app user
(hooks included), e.g. ``sudo apt-get -o APT::Update::Pre-Invoke::=CMD update``. This rule
allows ``apt-get update`` with no other argument, and ``apt-get install`` with borgui's
fixed options, ``--`` and one package name. The image writes it with
``python -m packages_admin.sudoers borgui``.
"""

import re
import sys

from packages_admin.validators import NAME_RE, VERSION_RE

APT_GET = "/usr/bin/apt-get"
INSTALL_OPTIONS = (
    "install",
    "-y",
    "--no-install-recommends",
    # Wait for apt's own lock when something outside borgui holds it (unattended upgrades…).
    "-o",
    "DPkg::Lock::Timeout=120",
    # Keep changed configuration files without asking.
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "--",
)
SUDOERS_FILE = "/etc/sudoers.d/borgui-apt"


def sudoers_rule(user: str) -> str:
    """Two commands, as sudo regular expressions (sudo ≥ 1.9.10) over the whole argument
    string: `update` alone, and `install` with the fixed options and ONE package spec that
    matches borgui's validator — no option, no second name, no path to a local .deb."""
    fixed = " ".join(INSTALL_OPTIONS)
    # The fixed options hold no character that is special in a regular expression.
    assert re.fullmatch(r"[A-Za-z0-9:= -]+", fixed), fixed
    spec = f"{NAME_RE.pattern}(={VERSION_RE.pattern})?"
    return (
        f'Defaults:{user} env_keep += "DEBIAN_FRONTEND"\n'
        f"{user} ALL=(root) NOPASSWD: {APT_GET} ^update$, {APT_GET} ^{fixed} {spec}$\n"
    )


if __name__ == "__main__":
    sys.stdout.write(sudoers_rule(sys.argv[1] if len(sys.argv) > 1 else "borgui"))
