"""The one rule for what a child process of borgui inherits of borgui's environment.

Every child (borg, hook scripts, apt-get and its maintainer scripts, the ssh client) starts
from borgui's own environment minus borgui's settings and secrets: its keys
(``SECRET_KEY``, ``BORGUI_*``), its database (``DATABASE_URL``), the first admin's
password (``DJANGO_SUPERUSER_*``), borg's secrets (passphrases, the key file) and every
inherited ``BORG_UI_*`` variable (those a hook gets are set for it, never inherited).
What else passes depends on the child: ``inherited`` keeps the rest (``PATH``,
``DOCKER_HOST``, proxies and user-set variables), with more prefixes to drop where the
caller sets that family itself (borg: every ``BORG_*``); ``only`` keeps a few named ones
(the ssh client, whose SendEnv could forward anything it has); ``minimal`` keeps what a
tool that needs none of borgui's settings runs with (apt-get and the maintainer scripts of
every package it installs, as root; the ssh client; sshfs): where programs are, the home
directory, the user, the language and the proxies (docs/security.md).
"""

from collections.abc import Iterable, Mapping

NEVER_INHERITED_PREFIXES = (
    "BORGUI_",
    "BORG_UI_",
    "SECRET_KEY",
    "DATABASE_URL",
    "DJANGO_SUPERUSER_",
    "BORG_PASSPHRASE",
    "BORG_NEW_PASSPHRASE",
)
NEVER_INHERITED = frozenset({"BORG_PASSCOMMAND", "BORG_KEY_FILE"})
MINIMAL_NAMES = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ",
    "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY",
)  # fmt: skip


def may_inherit(name: str, also_strip: tuple[str, ...] = ()) -> bool:
    return not name.startswith(NEVER_INHERITED_PREFIXES + also_strip) and name not in NEVER_INHERITED


def inherited(environ: Mapping[str, str], also_strip: tuple[str, ...] = ()) -> dict[str, str]:
    """ENVIRON without borgui's settings and secrets, nor names starting with ALSO_STRIP."""
    return {name: value for name, value in environ.items() if may_inherit(name, also_strip)}


def only(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The NAMES of ENVIRON that it has (never one of borgui's secrets)."""
    return {name: environ[name] for name in names if name in environ and may_inherit(name)}


def minimal(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The minimal environment of ENVIRON (``MINIMAL_NAMES``, ``LC_*``) and its EXTRA names."""
    locale = [name for name in environ if name.startswith("LC_")]
    return only(environ, (*MINIMAL_NAMES, *locale, *extra))
