"""Home, first-run setup, people and roles, and the health check."""

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.staticfiles import finders
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from providers.accounts.forms import PersonForm, RoleForm, SetupForm
from providers.core import audit, health, roles

User = get_user_model()


@login_required
def home(request):
    if request.user.has_perm(roles.MANAGE_PROVIDERS):
        return redirect("provider_list")
    return redirect("playground")


@never_cache
@sensitive_post_parameters("password1", "password2")
def setup(request):
    """Create the first administrator; gone for good once any account exists."""
    if User.objects.exists():
        raise Http404()
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # The lock-free re-check inside the transaction keeps two racing setups from both winning.
            if User.objects.select_for_update().exists():
                raise Http404()
            user = User.objects.create_user(
                form.cleaned_data["username"], form.cleaned_data["email"], form.cleaned_data["password1"]
            )
            roles.set_role(user, roles.ADMIN)
            audit.record(request, "account.setup", user)
        login(request, user, backend="providers.accounts.backends.RoleBackend")
        messages.success(request, _("Welcome. Your administrator account is ready."))
        return redirect("provider_list")
    return render(request, "accounts/setup.html", {"form": form})


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says; answer with the logo rather than a 404."""
    path = finders.find("img/hf-logo.svg")
    with open(path, "rb") as logo:
        response = HttpResponse(logo.read(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def healthz(request):
    """200 when this instance can serve, else 503 naming what is down; within HEALTHZ_TIMEOUT either way."""
    down = health.unavailable()
    if down:
        text = "".join(f"{name} unreachable\n" for name in down)
        return HttpResponse(text, status=503, content_type="text/plain", headers={"Retry-After": "5"})
    return HttpResponse("ok\n", content_type="text/plain")


@login_required
@permission_required(roles.MANAGE_PEOPLE, raise_exception=True)
@sensitive_post_parameters("password1", "password2")
def people(request):
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(
            form.cleaned_data["username"], form.cleaned_data["email"], form.cleaned_data["password1"]
        )
        roles.set_role(user, form.cleaned_data["role"])
        audit.record(request, "person.create", user, {"role": form.cleaned_data["role"]})
        messages.success(request, _("%(name)s can now sign in.") % {"name": user.username})
        return redirect("people")
    users = User.objects.order_by("username").prefetch_related("groups")
    locked = locked_usernames()
    rows = [{"user": u, "role": roles.role_of(u), "locked": u.username in locked} for u in users]
    return render(request, "accounts/people.html", {"form": form, "rows": rows, "role_form": RoleForm()})


def _last_admin_guard(request, user):
    if roles.role_of(user) == roles.ADMIN and user.is_active and roles.active_admin_count(exclude=user) == 0:
        messages.error(
            request, _("%(name)s is the last active admin; make someone else admin first.") % {"name": user.username}
        )
        return True
    return False


@login_required
@permission_required(roles.MANAGE_PEOPLE, raise_exception=True)
@require_POST
def person_role(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
        return redirect("people")
    new_role = form.cleaned_data["role"]
    old_role = roles.role_of(user)
    if new_role != old_role and not (new_role == roles.MEMBER and _last_admin_guard(request, user)):
        roles.set_role(user, new_role)
        audit.record(request, "person.role", user, {"role": {"from": old_role, "to": new_role}})
        messages.success(
            request, _("%(name)s is now %(role)s.") % {"name": user.username, "role": roles.ROLE_LABELS[new_role]}
        )
    return redirect("people")


@login_required
@permission_required(roles.MANAGE_PEOPLE, raise_exception=True)
@require_POST
def person_active(request, user_id):
    user = get_object_or_404(User, pk=user_id)
    if user.is_active and _last_admin_guard(request, user):
        return redirect("people")
    user.is_active = not user.is_active
    user.save(update_fields=["is_active"])
    audit.record(request, "person.activate" if user.is_active else "person.deactivate", user)
    if user.is_active:
        messages.success(request, _("%(name)s can sign in again.") % {"name": user.username})
    else:
        messages.success(request, _("%(name)s can no longer sign in.") % {"name": user.username})
    return redirect("people")


def locked_usernames():
    """User names locked out of log-in right now (failure limit reached within the cool-off), in one query."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return set(
        AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gte=since)
        .values_list("username", flat=True)
        .distinct()
    )


@login_required
@permission_required(roles.MANAGE_PEOPLE, raise_exception=True)
@require_POST
def person_unlock(request, user_id):
    """Lift a log-in lock-out (from every address) before its cool-off ends."""
    user = get_object_or_404(User, pk=user_id)
    cleared = axes_reset(username=user.username)
    audit.record(request, "person.unlock", user, {"attempts_cleared": cleared})
    messages.success(request, _("%(name)s can try to sign in again now.") % {"name": user.username})
    return redirect("people")
