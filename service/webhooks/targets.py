"""Where a webhook may go: public addresses only, unless WEBHOOK_ALLOW_PRIVATE says otherwise.

A webhook POST carries a signed body to whatever the URL's host resolves to. Pointed
at a loopback, link-local (``169.254.169.254``: cloud metadata) or private address,
it becomes a request from inside our network (SSRF). So the URL is checked twice:

- at start-up (:func:`url_problem`, no DNS: start-up must not hang on a resolver): the
  scheme, and the host when it is an address written out or ``localhost``;
- at each delivery (:func:`resolution_problem`): every address the host resolves to.
  A name may resolve elsewhere from one minute to the next (DNS rebinding), so the
  delivery also connects only to an address that was checked at connect time:
  ``requests-hardened`` resolves once, checks that address and pins the connection to
  it (the ``Host`` header, TLS SNI and certificate checks keep the name). A second
  lookup between our check and the connection therefore cannot reach an address
  nobody checked.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IPv6 prefixes that carry an IPv4 address inside (NAT64): judged by that address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Not global, though the ``ipaddress`` of older Pythons (3.11 before 3.11.10) says so
#: (CPython issue 113171); and IPv6 documentation and segment-routing prefixes.
NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "3fff::/20", "5f00::/16"))


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not go to ``ip`` (e.g. ``"loopback"``), or None for a public one."""
    ip = _embedded_ipv4(ip)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("site-local", getattr(ip, "is_site_local", False)),
    ):
        if flag:
            return kind
    # what is left and still not global: shared address space (100.64.0.0/10, CGNAT)
    if not ip.is_global or any(ip in net for net in NOT_GLOBAL):
        return "not global"
    return None


def _literal_addresses(host: str) -> list[IPAddress] | None:
    """The address ``host`` spells out, as the resolver reads it (``127.1`` too); None
    for a name, which only a lookup can answer."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def url_problem(url: str, allow_private: bool) -> str | None:
    """What is wrong with ``url`` as a webhook target, judged without DNS; None if fine."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in {"http", "https"}:
        return "must start with http:// or https://"
    host = parts.hostname
    if not host:
        return "has no host"
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "points at this machine (localhost: loopback)"  # RFC 6761
    for ip in _literal_addresses(host) or []:
        kind = refusal(ip)
        if kind:
            return f"points at {ip}, which is not public ({kind})"
    return None


def resolution_problem(url: str) -> str | None:
    """Resolve the URL's host now; why a delivery may not go there, or None if every
    address it resolves to is public."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot resolve {host!r}: {exc}"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # drop an IPv6 zone
        kind = refusal(ip)
        if kind:
            return f"refused: {host} resolves to {ip}, which is not public ({kind})"
    return None


ALLOW_HINT = "set WEBHOOK_ALLOW_PRIVATE=true if the site really is on a private network"
