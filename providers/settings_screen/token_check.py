"""What Hugging Face says of a provider token when it is saved: whose it is and what it may do (whoami-v2, §4.1).

An invalid token is refused; a token that could not be checked (the Hub unreachable, a rate limit) is saved all the
same, since "could not ask" is not "no", and says so on the provider card.
"""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from providers.huggingface import hub, transport
from providers.huggingface.errors import HFError, wording
from providers.settings_screen.connection_test import TOKEN_ROLES

# (key in the stored check, what the token may do, what is missing without it)
ABILITIES = (
    ("providers", _("call Inference Providers and the Hosted Inference API"), _("Hosted and provider models fail.")),
    ("endpoints", _("call Inference Endpoints"), _("Inference Endpoint models fail unless they have their own token.")),
    ("gated", _("read gated models whose terms the account accepted"), _("Gated models fail.")),
    (
        "manage_endpoints",
        _("list, resume and wake Inference Endpoints"),
        _("Endpoints cannot be picked or woken here."),
    ),
)


def check(token):
    """The stored check of `token`; raises HFError("invalid_token") when Hugging Face refuses the token."""
    try:
        info = hub.whoami(token, transport.Deadline(settings.HF_TEST_TIMEOUT))
    except HFError as exc:
        if exc.category == "invalid_token":
            raise
        return {"error": exc.category, "checked_at": timezone.now().isoformat()}
    return {
        "account": info.name,
        "orgs": list(info.orgs),
        "role": info.role,
        "providers": info.can_call_providers,
        "endpoints": info.can_call_endpoints,
        "gated": info.can_read_gated,
        "manage_endpoints": info.can_manage_endpoints,
        "checked_at": timezone.now().isoformat(),
    }


def describe(stored):
    """What the provider card shows of a stored check: None when there is none (a token saved before checks)."""
    if not stored:
        return None
    if stored.get("error"):
        title, _advice = wording(stored["error"], "")
        return {"unchecked": title}
    return {
        "account": stored.get("account", ""),
        "orgs": stored.get("orgs") or [],
        "role": TOKEN_ROLES.get(stored.get("role"), stored.get("role") or ""),
        "abilities": [
            {"key": key, "ok": bool(stored.get(key)), "label": label, "missing": missing}
            for key, label, missing in ABILITIES
        ],
    }
