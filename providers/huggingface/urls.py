"""The URLs the console calls: which come from settings (trusted), which are Hugging Face's own hosts (where the
provider token may go), the origin a token is bound to, and paths joined without ever leaving their base."""

import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface.errors import HFError


def trusted_bases():
    """The base URLs that come from settings (not from an admin's form), so the URL policy does not apply."""
    return (settings.HF_HUB_URL, settings.HF_ROUTER_URL, settings.HF_ENDPOINTS_API_URL)


def is_trusted(url):
    return any(url.startswith(base + "/") for base in trusted_bases())


DEDICATED_ENDPOINTS = "endpoints.huggingface.cloud"  # Inference Endpoints' own hosts: <name>.<region>.<this>


def huggingface_host(url):
    """Whether `url` is on one of Hugging Face's own hosts (or a host PROVIDER_TOKEN_HOSTS adds): where the
    provider token may go, and where a failure is Hugging Face's to explain."""
    origin = origin_of(url)
    scheme, host, _port = origin
    if any(origin == origin_of(base) for base in trusted_bases()):
        return True
    if scheme == "https" and host.endswith("." + DEDICATED_ENDPOINTS):
        return True
    for suffix in settings.PROVIDER_TOKEN_HOSTS:
        suffix = suffix.strip().lower().strip(".")
        if suffix and (host == suffix or host.endswith("." + suffix)):
            return True
    return False


@functools.lru_cache(maxsize=1024)  # a few URLs, each asked for several times a call
def origin_of(url):
    """(scheme, host, port): what the Authorization header is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port or {"https": 443, "http": 80}.get(scheme)


def join(base, path):
    """`base` (an origin, perhaps with a path) and `path` joined as text, the result always under `base`.

    Paths come from servers too (the control plane's `healthRoute`): a route such as `.evil.test:19102/x` or
    `@evil.test/x` joined by plain concatenation would change the host, and the token would go there. The path
    always starts a new segment under the base's path; anything that would still leave it (another origin,
    another base path, dot segments) is refused.
    """
    root = base.rstrip("/")
    url = root + "/" + path.lstrip("/")
    joined, under = urlsplit(url), urlsplit(root)
    segments = joined.path.split("/")
    if (
        joined.scheme != under.scheme
        or joined.netloc != under.netloc
        or origin_of(url) != origin_of(base)
        or not joined.path.startswith(under.path + "/")
        or ".." in segments
        or "." in segments
    ):
        raise HFError(
            "blocked_by_url_policy",
            _("The path %(path)s would lead away from %(base)s; refused.") % {"path": path, "base": root},
            upstream=True,
        )
    return url
