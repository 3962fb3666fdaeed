"""Script parameters (docs/hooks.md#parameters): which names are allowed, which a body proposes, and the
values a hook gets. Pure functions, shared by the admin, apply_config and the engine."""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

RESERVED_PREFIX = "BORG_UI_"
_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# Names that would let whoever edits an attachment run code the reviewer never saw.
_REFUSED_EXACT = {
    "PATH", "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "IFS", "NODE_OPTIONS", "GCONV_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
}  # fmt: skip
_REFUSED_PREFIXES = ("LD_", "BASH_FUNC_", "PYTHON", "PERL5", "RUBY", "BORG_")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parameter_name_problem(name: str) -> str:
    """Why a parameter may not have this name, or '' when it may."""
    if not _NAME.match(name or ""):
        return f"{name!r} is not a variable name: use letters, digits and '_', not starting with a digit."
    if name.startswith(RESERVED_PREFIX):
        return f"{name}: names starting with {RESERVED_PREFIX} are reserved for the variables borgui injects."
    if name in _REFUSED_EXACT or name.startswith(_REFUSED_PREFIXES):
        return (
            f"{name}: refused — a value for it could change what the script runs "
            "(PATH, LD_*, BASH_ENV, ENV, BASH_FUNC_*, SHELLOPTS, PS4, IFS, PYTHON*, PERL5*, RUBY*, NODE_OPTIONS, "
            "JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS, GCONV_PATH, BORG_*)."
        )
    return ""


def validate_parameter_name(name: str) -> None:
    problem = parameter_name_problem(name)
    if problem:
        raise ValidationError(problem, code="invalid_parameter_name")


def proposed_parameters(body: str) -> dict[str, str]:
    """${NAME} and ${NAME:-default} in a body, in order of appearance; refused names skipped."""
    found: dict[str, str] = {}
    for match in _REFERENCE.finditer(body):
        name, default = match.group(1), match.group(2) or ""
        if name in found or parameter_name_problem(name):
            continue
        found[name] = default
    return found


@dataclass(frozen=True)
class Declared:
    name: str
    default: str = ""
    required: bool = False
    secret: bool = False


def resolve_values(declared: list[Declared], given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The values a hook gets: the attachment's, else the declared default.

    Returns (values, missing required names). A parameter without value or default is
    left out, so ${NAME:-fallback} in the script still applies.
    """
    values, missing = {}, []
    for parameter in declared:
        if parameter.name in given and given[parameter.name] != "":
            values[parameter.name] = given[parameter.name]
        elif parameter.default != "":
            values[parameter.name] = parameter.default
        elif parameter.required:
            missing.append(parameter.name)
    return values, missing
