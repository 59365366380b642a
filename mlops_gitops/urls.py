"""URLs named in specs: redaction of their secrets, strict parsing of HTTP URLs, and which
network addresses an outbound call may reach. Pure functions, no I/O, usable by every layer.

Query strings and userinfo routinely carry credentials (presigned `X-Amz-Signature`, `token`,
`api_key`, `user:password@`), so every URL the tool prints or writes goes through
`redact_url`; the real URL is only ever used to fetch.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MASK = "***"
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,30}://(?:[^\s/?#@]*@)?[^\s'\"<>`]*")
"""A URL in prose ends at a space or a quote, except in its userinfo, which may hold both."""
_TRAILING = ".,;:!)]}"
_PRINTABLE = "".join(chr(c) for c in range(33, 127))

# ---------------------------------------------------------------- redaction


def redact_url(url: str) -> str:
    """The URL with its userinfo and every query and fragment value replaced by `***`.

    Works on malformed URLs too (an error message about a broken URL must not leak it).
    """
    head, sep, rest = url.partition("://")
    if not sep:
        return _redact_tail(url)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = MASK + "@" + authority.rsplit("@", 1)[1]
    return f"{head}://{authority}{_redact_tail(tail)}"


def _redact_tail(tail: str) -> str:
    """Path kept; query and fragment items keep their keys, lose their values."""
    tail, hash_sign, fragment = tail.partition("#")
    path, question, query = tail.partition("?")
    out = path
    if question:
        out += "?" + _redact_items(query)
    if hash_sign:
        out += "#" + _redact_items(fragment)
    return out


def _redact_items(text: str) -> str:
    items = re.split(r"([&;])", text)
    for index in range(0, len(items), 2):
        key, equals, value = items[index].partition("=")
        if equals:
            items[index] = f"{key}={MASK}" if value else f"{key}="
        elif key:
            items[index] = MASK  # a bare item (`?SECRET`) may be the credential itself
    return "".join(items)


def redact_text(text: str) -> str:
    """Every URL inside free text (error messages, rendered output) redacted."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    trimmed = url.rstrip(_TRAILING)
    return redact_url(trimmed) + url[len(trimmed) :]


def redact_data(data: Any) -> Any:
    """JSON-like data with every string redacted (keys too: they may be URLs)."""
    if isinstance(data, str):
        return redact_text(data)
    if isinstance(data, Mapping):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, Sequence) and not isinstance(data, bytes | bytearray):
        return [redact_data(item) for item in data]
    return data


# ---------------------------------------------------------------- HTTP URLs

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)
"""Names of cloud metadata services, refused before any lookup."""


@dataclass(frozen=True)
class HttpTarget:
    """An http(s) URL taken apart: what to resolve, where to connect, what to send."""

    scheme: str
    host: str
    """Lowercase name in ASCII (IDNA), or the IP address as text."""
    port: int
    target: str
    """Path and query, as sent in the request line."""
    username: str | None
    password: str | None
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    """The address when the host is written as one (any spelling inet_aton accepts)."""

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_http_url(url: str) -> HttpTarget:
    """Take an http(s) URL apart strictly; ValueError says what is wrong (without the URL's
    secrets). Stricter than urlsplit, which drops tabs and newlines and guesses at the rest."""
    if not isinstance(url, str) or not url:
        raise ValueError("the URL is empty")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("the URL contains spaces or control characters")
    if "\\" in url:
        raise ValueError("the URL contains a backslash")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # unbalanced brackets, a port that is no number or out of range
        raise ValueError(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ValueError(f"the URL must start with http:// or https:// (it has {shown})")
    if not parts.netloc or not parts.hostname:
        raise ValueError("the URL has no host")
    if port == 0:
        raise ValueError("port 0 is not a port one can connect to")
    host, address = _host(parts.netloc, parts.hostname)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = urllib.parse.quote(target, safe=_PRINTABLE)  # only non-ASCII gets escaped
    return HttpTarget(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        target=target,
        username=urllib.parse.unquote(parts.username) if parts.username is not None else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        address=address,
    )


def _host(
    netloc: str, hostname: str
) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    authority = netloc.rsplit("@", 1)[-1]
    if authority.startswith("["):
        if "%" in hostname:
            raise ValueError("IPv6 zone identifiers are not accepted")
        try:
            v6 = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise ValueError(f"malformed URL: {hostname!r} is not an IPv6 address") from None
        return str(v6), v6
    if "[" in authority or "]" in authority:
        raise ValueError("malformed URL: a bracket outside an IPv6 address")
    try:
        ascii_host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{hostname!r} is not a valid host name") from None
    ascii_host = ascii_host.rstrip(".")
    try:  # 127.1, 2130706433 and 0x7f.0.0.1 all reach 127.0.0.1: read them as the resolver does
        v4 = ipaddress.IPv4Address(socket.inet_aton(ascii_host))
    except OSError:
        v4 = None
    if v4 is not None:
        return str(v4), v4
    if len(ascii_host) > 253 or not all(_LABEL.match(p) for p in ascii_host.split(".")):
        raise ValueError(f"{hostname!r} is not a valid host name")
    return ascii_host, None


# ---------------------------------------------------------------- addresses

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local, where 169.254.169.254 answers on every large cloud
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS's IPv6 metadata endpoint
        "100.100.100.200/32",  # Alibaba Cloud's metadata endpoint
        "192.0.0.192/32",  # Oracle Cloud's metadata endpoint
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64, compatible)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, allow_private: bool) -> str | None:
    """Why an outbound call may not reach this address, or None when it may.

    Link-local and metadata addresses never; multicast and reserved ones never; loopback,
    private and every other non-public range only when the Project opts in.
    """
    inner = _embedded_v4(address)
    if inner is not None:
        problem = address_problem(inner, allow_private)
        if problem is not None:
            return problem
    if any(address in net for net in _METADATA_NETWORKS if net.version == address.version):
        return "a link-local or cloud metadata address, never reachable from specs"
    if address.is_multicast or (address.version == 4 and address.is_reserved):
        return "a multicast, broadcast or reserved address"
    if inner is None and not address.is_global and not allow_private:
        return (
            "a loopback or private address; the Project allows it only with"
            " security.allow_private_webhooks: true"
        )
    return None


def host_problem(target: HttpTarget, allow_private: bool) -> str | None:
    """What can be told before any lookup: a literal address or a well-known name."""
    if target.address is not None:
        return address_problem(target.address, allow_private)
    if target.host in METADATA_HOSTS or target.host.endswith(".metadata.google.internal"):
        return "a cloud metadata service, never reachable from specs"
    if (target.host == "localhost" or target.host.endswith(".localhost")) and not allow_private:
        return address_problem(ipaddress.IPv4Address("127.0.0.1"), allow_private)
    return None


def check_http_url(url: str) -> str:
    """A pydantic validator: a well-formed http(s) URL whose host is not always forbidden."""
    target = parse_http_url(url)
    problem = host_problem(target, allow_private=True)
    if problem is not None:
        raise ValueError(f"the URL's host {target.host} is {problem}")
    return url
