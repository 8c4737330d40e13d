"""Outbound URL safety for admin-entered endpoint URLs: scheme, credentials, and every address a host resolves to.

The same address rule runs twice: when a URL is saved (on every address the name resolves to) and when the
client connects: the name is resolved once, every address is checked, and the socket is opened to a checked
address (resolve-and-pin), so a rebound name never gets even a TCP handshake with an internal address.
"""

import functools
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

RETIRED_HOST = "api-inference.huggingface.co"

# Ranges refused unless allow-listed. Python's is_private covers RFC 1918, loopback, link-local and more;
# these are named explicitly so that the policy reads as a list and carrier-grade NAT is not forgotten.
_BLOCKED_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, includes the 169.254.169.254 cloud metadata address
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
_BLOCKED_V6 = [
    ipaddress.ip_network(n)
    for n in ("::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "fd00:ec2::254/128", "64:ff9b::/96")
]


class BlockedURL(Exception):
    def __init__(self, message):
        self.message = str(message)
        super().__init__(self.message)


def _allowed_networks():
    return _networks(tuple(settings.OUTBOUND_ALLOWED_NETWORKS))


@functools.lru_cache(maxsize=8)  # parsed once per setting's value, not for every request
def _networks(entries):
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return nets


def _host_allowed(host):
    return host.lower().rstrip(".") in {h.lower().rstrip(".") for h in settings.OUTBOUND_ALLOWED_HOSTS}


def parse_ip(text):
    """An address in any spelling a resolver accepts (dotted, decimal, octal, hex, IPv6), or None for a name."""
    text = text.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        # inet_aton accepts the legacy forms `2130706433`, `0177.0.0.1`, `0x7f.1`, which resolvers honour too.
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def address_refusal(address, host=""):
    """Why this address may not be contacted, or None when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
    if host and _host_allowed(host):
        return None
    if any(ip in net for net in _allowed_networks()):
        return None
    blocked = _BLOCKED_V4 if ip.version == 4 else _BLOCKED_V6
    if any(ip in net for net in blocked) or ip.is_private or ip.is_reserved or ip.is_multicast:
        if not host or parse_ip(host) is not None:
            return _(
                "%(ip)s is an internal address. Add the range to OUTBOUND_ALLOWED_NETWORKS if this server is "
                "meant to be reached."
            ) % {"ip": ip}
        return _(
            "%(host)s resolves to %(ip)s, an internal address. Add the host to OUTBOUND_ALLOWED_HOSTS "
            "or the range to OUTBOUND_ALLOWED_NETWORKS if this server is meant to be reached."
        ) % {"host": host, "ip": ip}
    return None


def resolve(host, port):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BlockedURL(_("The host %(host)s could not be resolved.") % {"host": host}) from None
    return sorted({info[4][0] for info in infos})


def check_url(url, resolve_host=True):
    """Raise BlockedURL when the URL may not be contacted; return the parsed URL otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedURL(_("This is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise BlockedURL(_("Only https:// URLs are allowed."))
    if scheme == "http" and not settings.OUTBOUND_ALLOW_HTTP:
        raise BlockedURL(_("Only https:// URLs are allowed (set OUTBOUND_ALLOW_HTTP to allow http://)."))
    if parts.username or parts.password or "@" in parts.netloc:
        raise BlockedURL(_("A URL may not carry a user name or password; the token is sent separately."))
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURL(_("The URL has no host."))
    if host.lower() == RETIRED_HOST:
        raise BlockedURL(
            _(
                "api-inference.huggingface.co is retired. Use https://router.huggingface.co/hf-inference/models/"
                "<repo id> (choose the Hosted Inference API type) or https://router.huggingface.co/v1 "
                "(Inference Providers)."
            )
        )
    literal = parse_ip(host)
    if literal is not None:
        reason = address_refusal(literal, host)
        if reason:
            raise BlockedURL(reason)
        return parts
    if resolve_host and not _host_allowed(host):
        for address in resolve(host, port or (443 if scheme == "https" else 80)):
            reason = address_refusal(address.split("%")[0], host)
            if reason:
                raise BlockedURL(reason)
    return parts


def checked_addresses(host, port):
    """The addresses to connect to for `host`, resolved once and each one allowed; raises BlockedURL otherwise.

    The verdict comes before any packet is sent, so it is the same whether something listens there or not.
    socket.gaierror is left to the caller (a name that does not resolve is a DNS failure, not a policy refusal).
    """
    literal = parse_ip(host)
    if literal is not None:
        reason = address_refusal(literal, host)
        if reason:
            raise BlockedURL(reason)
        return [str(literal)]
    addresses = []
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = info[4][0]
        if address not in addresses:
            addresses.append(address)
    for address in addresses:
        reason = address_refusal(address.split("%")[0], host)
        if reason:
            raise BlockedURL(reason)
    return addresses
