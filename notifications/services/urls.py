"""Apprise URLs and ping URLs: what is allowed, how they are shown, what to mask.

Both are secrets (docs/notifications.md): a URL holds tokens, in some schemes in the host
part (``tgram://BOTTOKEN/CHAT``), so a URL is only ever shown as its scheme, and every
part of it is masked in error texts.
"""

import re
from urllib.parse import unquote, urlsplit, urlunsplit

# Apprise services that act on this machine instead of a network service: desktop
# pop-ups (which run programs such as terminal-notifier), D-Bus, the local syslog,
# USB lights. A channel reaches other machines only.
LOCAL_SCHEMES = frozenset(
    {"file", "windows", "macosx", "dbus", "qt", "kde", "gnome", "glib", "gio", "syslog", "blink1"}
)
PING_SCHEMES = ("http", "https")
_SPLIT = re.compile(r"[/:@?&=#,;+]+")
_MIN_MASKED = 8  # shorter pieces are words and ports, not tokens


def scheme_of(url: str) -> str:
    scheme, sep, _rest = (url or "").strip().partition("://")
    return scheme.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else ""


def shown(url: str) -> str:
    """How a stored URL appears anywhere: its scheme only."""
    scheme = scheme_of(url)
    if not url:
        return "(not set)"
    return f"{scheme}://…" if scheme else "(set)"


def secret_parts(url: str) -> list[str]:
    """The URL and each of its pieces long enough to be a token, for masking."""
    if not url:
        return []
    rest = url.partition("://")[2]
    pieces = {piece for piece in _SPLIT.split(rest) if len(piece) >= _MIN_MASKED}
    pieces |= {unquote(piece) for piece in pieces}
    return [url, *sorted(pieces, key=len, reverse=True)]


def apprise_url_problem(url: str) -> str:
    """Why URL cannot be a channel's Apprise URL, or ""."""
    import apprise

    url = (url or "").strip()
    if not url:
        return "Give an Apprise URL, e.g. ntfys://ntfy.sh/TOPIC or json://host:port/path."
    if any(ch.isspace() for ch in url):
        return "An Apprise URL has no spaces or line breaks (give one URL per channel)."
    scheme = scheme_of(url)
    if not scheme:
        return "An Apprise URL starts with a scheme, e.g. ntfys://, gotify://, discord://, mailtos://, json://."
    if scheme in LOCAL_SCHEMES:
        return f"{scheme}:// acts on this machine (files, programs, desktop); use a network service."
    if apprise.Apprise.instantiate(url) is None:
        return f"Apprise does not accept this {scheme}:// URL (unknown scheme or missing parts)."
    return ""


def ping_url_problem(url: str) -> str:
    """Why URL cannot be a plan's ping URL (healthchecks.io protocol), or ""."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Give an http:// or https:// URL, e.g. https://hc-ping.com/UUID."
    if parts.scheme not in PING_SCHEMES or not parts.hostname or any(ch.isspace() for ch in url):
        return "Give an http:// or https:// URL, e.g. https://hc-ping.com/UUID."
    return ""


def with_suffix(url: str, suffix: str) -> str:
    """URL with ``/start`` or ``/fail`` added to its path, before any query string."""
    if not suffix:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix.strip("/")))
