"""Archive name templates (docs/running-plans.md#archive-names): {plan}, {repository}, {now}, {now:FORMAT}.

Pure functions: rendering, validation, and the template's fixed prefix that scopes prune
to the archives a plan made (``borg prune --glob-archives 'PREFIX*'``).
"""

import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError

DEFAULT_TEMPLATE = "{plan}-{now}"
NOW_FORMAT = "%Y-%m-%dT%H:%M:%S"
_VARIABLE = re.compile(r"\{([a-z]+)(?::([^{}]*))?\}")
_NAMED = {"plan", "repository"}
# Characters borg's --glob-archives would read as a pattern, or that break an archive name.
_UNSAFE = set("/*?[]{}\\\n\r\0")


def _parts(template: str) -> list[tuple[str, str | None, str | None]]:
    """Split into (literal, variable, format) triples; raise ValueError on a stray brace."""
    parts, position = [], 0
    for match in _VARIABLE.finditer(template):
        parts.append((template[position : match.start()], match.group(1), match.group(2)))
        position = match.end()
    parts.append((template[position:], None, None))
    for literal, _name, _format in parts:
        if "{" in literal or "}" in literal:
            raise ValueError("a '{' or '}' that is not part of {plan}, {repository}, {now} or {now:FORMAT}")
    return parts


def validate_template(template: str) -> None:
    try:
        parts = _parts(template)
    except ValueError as e:
        raise ValidationError(f"Archive name template has {e}.", code="invalid_template") from None
    for literal, name, fmt in parts:
        if _UNSAFE & set(literal):
            raise ValidationError("An archive name never contains '/', '*', '?', '[', ']' or '\\'.")
        if name is None:
            continue
        if name not in _NAMED | {"now"}:
            raise ValidationError(f"Unknown variable {{{name}}}: use {{plan}}, {{repository}}, {{now}}.")
        if fmt is not None and (name != "now" or not fmt or "/" in fmt):
            raise ValidationError("Only {now} takes a format, as {now:%Y-%m-%d}, without '/'.")
    if not template.strip():
        raise ValidationError("The archive name template is empty.")
    if problem := rendered_name_problem(template):
        raise ValidationError(problem, code="invalid_template")


# A time whose every field is two digits or more, so a format renders as wide as it can.
_SAMPLE_TIME = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
MAX_NAME = 200


def rendered_name_problem(template: str) -> str | None:
    """What is wrong with the names the template renders to: {now:FORMAT} may add what its
    literal text does not show (%Y* or %n, a newline)."""
    try:
        name = render(template, "plan", "repository", _SAMPLE_TIME)
    except ValueError:
        return "The {now:FORMAT} of the archive name template is not a strftime format."
    if any(char in name for char in "/*?[]") or "::" in name:
        return (
            f"The archive name template renders to {name!r}: "
            "an archive name never contains '/', '::', '*', '?', '[' or ']'."
        )
    if any(not char.isprintable() for char in name):
        return (
            f"The archive name template renders to {name!r}: an archive name has no line breaks or control characters."
        )
    if len(name) > MAX_NAME:
        return f"The archive name template renders to {len(name)} characters: at most {MAX_NAME}."
    return None


def render(template: str, plan: str, repository: str, now: datetime) -> str:
    out = []
    for literal, name, fmt in _parts(template):
        out.append(literal)
        if name == "plan":
            out.append(plan)
        elif name == "repository":
            out.append(repository)
        elif name == "now":
            out.append(now.strftime(fmt or NOW_FORMAT))
    return "".join(out)


def fixed_prefix(template: str, plan: str, repository: str) -> str:
    """The start of every name the template makes: literals and names up to the first {now}."""
    out = []
    for literal, name, _fmt in _parts(template):
        out.append(literal)
        if name == "now":
            break
        if name == "plan":
            out.append(plan)
        elif name == "repository":
            out.append(repository)
    return "".join(out)


def retention_prefix_problem(template: str, plan: str) -> str:
    """Why retention cannot be scoped safely with this template, or '' when it can."""
    try:
        parts = _parts(template)
    except ValueError:
        return ""  # validate_template reports it
    names_before_now = []
    for _literal, name, _fmt in parts:
        if name == "now":
            break
        names_before_now.append(name)
    if "plan" not in names_before_now:
        return (
            "Retention prunes only this plan's archives, found by the fixed start of their names: "
            "put {plan} before {now} in the template (e.g. {plan}-{now})."
        )
    if "now" not in [name for _l, name, _f in parts]:
        return "With retention every archive needs a distinct name: add {now} to the template."
    return ""


def prefix_covers(mine: str, theirs: str) -> bool:
    """Would pruning `--glob-archives 'MINE*'` also match names that start with THEIRS?"""
    return theirs.startswith(mine)


def with_suffix(name: str, attempt: int) -> str:
    """The name to use on the attempt-th try: name, name.2, name.3, …"""
    return name if attempt <= 1 else f"{name}.{attempt}"
