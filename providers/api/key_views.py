"""Key pages: each person's own keys (create, list with usage, revoke) and the admins' list of every key."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from providers.api import accounting, keys
from providers.api.forms import KeyLimitsForm, NewKeyForm
from providers.core import audit, roles
from providers.models import APIKey


def _api_base(request):
    return request.build_absolute_uri("/v1")


@never_cache
@login_required
def account(request):
    """The signed-in person's keys. A new key is shown in this response only, never stored or redirected."""
    form = NewKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            key, new_key = keys.create(request.user, form.cleaned_data["name"], form.cleaned_data["expires_in_days"])
        except keys.TooManyKeys as exc:
            form.add_error(None, too_many_keys_message(exc.args[0]))
        else:
            audit.record(
                request, "api_key.create", key, {"prefix": key.prefix, "expires_at": str(key.expires_at or "")}
            )
            form = NewKeyForm()
    own = list(request.user.api_keys.all())
    usage = accounting.usage_by("key_id", user=request.user)
    rows = [{"key": key, "usage": usage.get(key.pk)} for key in own]
    return render(
        request,
        "api/account.html",
        {"form": form, "rows": rows, "new_key": new_key, "api_base": _api_base(request)},
    )


def too_many_keys_message(cap):
    return _("You already have %(count)s keys that work, as many as one person may; revoke one first.") % {"count": cap}


@login_required
@require_POST
def key_revoke(request, pk):
    key = get_object_or_404(APIKey, pk=pk, owner=request.user)
    _revoke(request, key)
    return redirect("account")


def _revoke(request, key):
    if key.revoked_at is None:
        keys.revoke(key)
        audit.record(request, "api_key.revoke", key, {"prefix": key.prefix, "owner": key.owner.get_username()})
        messages.success(request, _("The key %(name)s no longer works.") % {"name": key.name})


def admin_view(view):
    return login_required(permission_required(roles.MANAGE_PEOPLE, raise_exception=True)(view))


@admin_view
def admin_keys(request):
    all_keys = list(APIKey.objects.select_related("owner"))
    by_user = accounting.usage_by("user_id")
    users = get_user_model().objects.in_bulk(list(by_user))
    user_rows = [{"user": users.get(uid), **row} for uid, row in by_user.items() if uid in users]
    model_rows = sorted(accounting.usage_by("model_name").values(), key=lambda row: -row["calls"])
    return render(
        request,
        "api/admin_keys.html",
        {
            "keys": all_keys,
            "user_rows": sorted(user_rows, key=lambda row: -row["calls"]),
            "model_rows": model_rows,
            "default_rpm": settings.API_REQUESTS_PER_MINUTE,
            "default_streams": settings.API_MAX_STREAMS,
            "max_keys": settings.API_MAX_KEYS_PER_USER,
        },
    )


@admin_view
@require_POST
def admin_key_revoke(request, pk):
    _revoke(request, get_object_or_404(APIKey.objects.select_related("owner"), pk=pk))
    return redirect("api_keys_admin")


def _shown(limit):
    return "—" if limit is None else limit


@admin_view
@require_POST
def admin_key_limits(request, pk):
    key = get_object_or_404(APIKey.objects.select_related("owner"), pk=pk)
    form = KeyLimitsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Limits must be whole numbers from 0 (no limit) to 100000."))
        return redirect("api_keys_admin")
    changes = {}
    for name in ("requests_per_minute", "max_streams"):
        value = form.cleaned_data[name]
        if getattr(key, name) != value:
            changes[name] = {"from": _shown(getattr(key, name)), "to": _shown(value)}
            setattr(key, name, value)
    if changes:
        key.save(update_fields=list(changes))
        audit.record(request, "api_key.limits", key, changes)
        messages.success(request, _("The limits of %(name)s are saved.") % {"name": key.name})
    return redirect("api_keys_admin")
