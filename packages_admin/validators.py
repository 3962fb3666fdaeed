"""The one place that decides what a package name may be.

Used by the model field (so the admin form), ``install_packages`` and ``apply_config``.
A name passes only if it follows Debian's package-name rules, optionally with ``=VERSION``;
everything else is rejected before any process starts. The checks run from the most
telling to the most general, so the message names the actual problem in one line.
"""

import re

from django.core.exceptions import ValidationError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
VERSION_RE = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")
MAX_LENGTH = 200
# Characters that mean something to a shell; named in the error so the user sees why.
SHELL_CHARACTERS = set("!\"#$%&'()*,;<>?@[\\]^`{|}~")

RULES = "lower-case letters, digits and + . - (at least two characters, starting with a letter or digit)"
VERSION_RULES = "starts with a digit, then letters, digits and . + ~ : -"


def _shown(value: str) -> str:
    """The value quoted on one line: control characters and line breaks escaped, long values cut."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_package")


def parse_package_spec(spec: str) -> tuple[str, str | None]:
    """Split ``NAME[=VERSION]`` into its parts, or raise ValidationError with a one-line message."""
    if not isinstance(spec, str):
        raise _invalid("a package name must be text")
    if spec.strip() == "":
        raise _invalid("the package name is empty")
    shown = _shown(spec)
    if len(spec) > MAX_LENGTH:
        raise _invalid(f"{shown} is too long: at most {MAX_LENGTH} characters")
    if spec.startswith("-"):
        raise _invalid(f"{shown} is not a package name: options (starting with -) are not allowed")
    for char in spec:
        if not char.isascii():
            raise _invalid(
                f"{shown} is not a package name: {char!r} (U+{ord(char):04X}) is not an ASCII character; "
                f"package names use {RULES}"
            )
    if any(char.isspace() or not char.isprintable() for char in spec):
        raise _invalid(f"{shown} is not a package name: spaces, line breaks and control characters are not allowed")
    if "/" in spec:
        raise _invalid(f"{shown} is not a package name: paths are not allowed, only a name such as docker.io")

    name, equals, version = spec.partition("=")
    for char in name:
        if char in SHELL_CHARACTERS:
            raise _invalid(f"{shown} is not a package name: {char!r} is not allowed")
    if name != name.lower() and NAME_RE.fullmatch(name.lower()):
        raise _invalid(f"{shown} is not a package name: package names are lower case (did you mean {name.lower()!r}?)")
    if not NAME_RE.fullmatch(name):
        raise _invalid(f"{shown} is not a package name: use {RULES}, optionally followed by =VERSION")
    if not equals:
        return name, None
    if version == "":
        raise _invalid(f"{shown}: the version after '=' is empty")
    if not VERSION_RE.fullmatch(version):
        raise _invalid(f"{shown}: {_shown(version)} is not a Debian version (a version {VERSION_RULES})")
    return name, version


def validate_package_spec(spec: str) -> None:
    """Field validator: ``NAME`` or ``NAME=VERSION`` following Debian's rules."""
    parse_package_spec(spec)
