"""The fetch guard: what a feed can make ingest request.

A remote feed is untrusted input, and so is every link and redirect in it. Every request ingest
makes on a feed's behalf (the feed, article pages, each redirect hop) passes two checks:

- **Where the link points**: ``http``/``https`` only. ``file://`` only for a source the user
  listed as ``file://``, and then only inside that feed's folder tree (``file_allowed``).
- **Where the socket goes**: the host is resolved once, every answer is checked, and the socket
  is connected to a vetted address; no second lookup happens between check and connect. The
  check sits in the network backend under httpx, so redirects, kept-alive connections and DNS
  rebinding all meet it (Miniflux moved its check into the dialer after resolution for the same
  reason; FreshRSS pins the vetted address and re-checks every redirect). Addresses that are not
  public are refused: loopback, private, link-local (cloud metadata at 169.254.169.254), shared
  (carrier-grade NAT), multicast, unspecified, reserved and documentation ranges, IPv6
  unique-local and link-local, and the IPv4-mapped, -compatible, NAT64, 6to4 and Teredo forms
  of all of these, unless ``ingest.private_network_allowlist`` names them.

Environment proxies (``HTTP_PROXY``...) are not used for feed fetches: through a proxy the
address connected to would be the proxy's, and the guard could not see where a request goes.
No well-kept library does this for httpx (``advocate`` wraps requests and was last released in
2020), so it is written here, over httpcore's documented network-backend seam.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from sinoscope.core.errors import SinoscopeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible form (::a.b.c.d)


class Blocked(SinoscopeError):
    """A request the guard refused; the message says why (``blocked: ...``)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"blocked: {why}")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``, in its order, once each."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _kind(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None when it is public."""
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "a shared (carrier-grade NAT) address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((what for hit, what in checks if hit), None)


def non_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (e.g. "a loopback address"), or None if it is one.
    An IPv6 form that carries an IPv4 address is judged by that address, and by itself too
    unless it is a plain mapping (``::ffff:a.b.c.d``, NAT64) of it."""
    if isinstance(ip, ipaddress.IPv6Address):
        v4 = embedded_ipv4(ip)
        if v4 is not None:
            why = _kind(v4)
            if why or ip.ipv4_mapped is not None or ip in _NAT64:
                return why
    return _kind(ip)


def parse_allowlist(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs from ``ingest.private_network_allowlist``; a bad one is a clear ValueError."""
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(str(c).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"ingest.private_network_allowlist: {c!r} is not a CIDR ({exc})") from None
    return tuple(out)


class AddressGuard:
    """Resolves a host once and says which of its addresses may be connected to."""

    def __init__(self, allowlist: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.allowlist = parse_allowlist(allowlist)
        self.resolve = resolver or system_resolver

    def allowed(self, ip: IPAddress) -> bool:
        forms = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (v4 := embedded_ipv4(ip)) is not None:
            forms.append(v4)
        return any(f.version == net.version and f in net for f in forms for net in self.allowlist)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why a connection to ``ip`` is refused, or None."""
        if self.allowed(ip):
            return None
        why = non_public(ip)
        if why is None:
            return None
        v4 = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        return f"resolves to {why} {ip}" + (f" (IPv4 {v4})" if v4 is not None else "")

    def vet(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` that may be connected to, in the resolver's order; raises
        Blocked when there is none (naming the first refused one)."""
        try:
            answers = self.resolve(host.strip("[]"), port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        ok, refused = [], []
        for answer in answers:
            ip = ipaddress.ip_address(answer)
            why = self.refusal(ip)
            (refused if why else ok).append(why or answer)
        if not ok:
            raise Blocked(refused[0] if refused else f"{host} has no address")
        return ok


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard has vetted."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last: Exception | None = None
        for ip in self.guard.vet(host, port):  # resolved once: the socket gets the vetted address
            try:
                return super().connect_tcp(ip, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise Blocked("unix sockets are never fetched")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (its request, response and error mapping) over a connection pool
    whose network backend is the guard. No proxy, no environment: see the module docstring."""

    def __init__(self, guard: AddressGuard, limits: httpx.Limits = httpx.Limits()) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def file_scope(source_url: str) -> Path | None:
    """The folder tree a ``file://`` source may read (its feed's folder); None for other sources."""
    if urlsplit(source_url).scheme.lower() != "file":
        return None
    return file_path(source_url).parent


def file_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path)).resolve()


def file_allowed(url: str, scope: Path | None) -> Path:
    """The local path of a ``file://`` URL when ``scope`` allows reading it; raises Blocked."""
    if scope is None:
        raise Blocked("file:// links are followed only from a source listed as file://")
    path = file_path(url)  # symlinks and ../ resolved before the check
    if not path.is_relative_to(scope):
        raise Blocked(f"{path} is outside the feed's folder {scope}")
    return path
