"""What every playground request reads, kept in this process: users, their permissions, the enabled models, tokens.

Each value lives in a `freshness.LocalCache`, keyed on `freshness.current()`; a request reads that number once,
at its first cached look-up, and uses it for all the others, so a request costs one query for all of them and
sees one consistent state. A change anywhere (another process, another machine) moves the number in the same
transaction, so the next request loads again: a revoked permission or a disabled model stops it at once.
Outside a request (commands, shells) every look-up reads the number again.
"""

import contextvars
import copy

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.signals import request_finished, request_started
from django.db.models import Q

from providers.core import freshness
from providers.huggingface.errors import HFError

_users = freshness.LocalCache()
_permissions = freshness.LocalCache()
_models = freshness.LocalCache()
_tokens = freshness.LocalCache()
_request_generation = contextvars.ContextVar("freshness_generation", default=None)


def _start_request(**kwargs):
    _request_generation.set({})


def _end_request(**kwargs):
    _request_generation.set(None)


request_started.connect(_start_request, dispatch_uid="cached-request-started")
request_finished.connect(_end_request, dispatch_uid="cached-request-finished")


def generation():
    """`freshness.current()`, read once per request."""
    memo = _request_generation.get()
    if memo is None:
        return freshness.current()
    if "value" not in memo:
        memo["value"] = freshness.current()
    return memo["value"]


def clear():
    for cache in (_users, _permissions, _models, _tokens):
        cache.clear()


def user(user_id):
    """The active user with this id (a copy: a request may set attributes on it), or None."""

    def load():
        return get_user_model()._default_manager.filter(pk=user_id).first()

    found = _users.get(user_id, load, generation())
    return copy.copy(found) if found is not None else None


def permissions(user_obj):
    """{"app_label.codename", ...} for an active user; what ModelBackend would compute, in one query."""

    def load():
        perms = Permission.objects.all()
        if not user_obj.is_superuser:
            perms = perms.filter(Q(user=user_obj) | Q(group__user=user_obj))
        return frozenset(
            f"{app}.{codename}" for app, codename in perms.values_list("content_type__app_label", "codename").distinct()
        )

    return _permissions.get(user_obj.pk, load, generation())


def enabled_models():
    """{pk: HFModel} of the enabled models, shared by the requests of this process: read them, never change them.

    Each is marked `from_cache`, so that its token is looked up in the cache too (see `token`)."""
    from providers.models import HFModel

    def load():
        models = {}
        for model in HFModel.objects.filter(enabled=True):
            model.from_cache = True
            models[model.pk] = model
        return models

    return _models.get("enabled", load, generation())


def token(model, resolve):
    """The model's token as `resolve(model)` gives it, decrypted once per generation; HFError as it raised it."""

    def load():
        try:
            return resolve(model), None
        except HFError as exc:
            return None, exc.category  # raised anew each time: a kept exception would grow its traceback

    value, failure = _tokens.get(model.pk, load, generation())
    if failure:
        raise HFError(failure)
    return value
