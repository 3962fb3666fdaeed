"""Who is the client: the peer address, or what a trusted reverse proxy says it is.

``X-Forwarded-For`` and the remote-user header are believed only when the request comes
straight from an address in ``BORGUI_TRUSTED_PROXIES`` (docs/users.md); from anyone else
they are ignored, because any client can send them.
"""

import ipaddress

from django.conf import settings


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def is_trusted_proxy(address) -> bool:
    if address is None:
        return False
    # An IPv4 peer seen on a dual-stack socket arrives as ::ffff:a.b.c.d.
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in settings.BORGUI_TRUSTED_PROXIES)


def from_trusted_proxy(request) -> bool:
    return is_trusted_proxy(_address(request.META.get("REMOTE_ADDR", "")))


def client_address(request) -> str:
    """The peer address; behind trusted proxies, the first hop (from the right) that is not one.

    Each trusted hop appended the address it saw to X-Forwarded-For, so the list is read from
    the end while the hop that wrote the entry is trusted; an entry that is not an address ends it.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    current = _address(remote)
    if current is None:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(current):
            break
        forwarded = _address(hop)
        if forwarded is None:
            break
        current = forwarded
    return str(current)
