"""Settings > Model Providers > Hugging Face: the provider token, the models, tests, export/import, audit log."""

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import OperationalError, transaction
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from providers.core import audit, display, error_pages, roles, served_facts, unwritable
from providers.core.ndjson import line
from providers.huggingface.errors import HFError
from providers.models import EMBEDDING_TASKS, AuditEntry, ConnectionTest, HFModel, ProviderSettings
from providers.playground.runs import usage_by_model
from providers.settings_screen import token_check, transfer
from providers.settings_screen.connection_test import record_test, run_test, stream_test, tested_config
from providers.settings_screen.forms import ImportForm, ModelConfigForm, ProviderTokenForm
from providers.settings_screen.transfer import ImportRejected, export_models, import_models

# A primary key as typed in a URL or form: ASCII digits only (str.isdigit() is also true for "²", which the
# query then refuses with a ValueError), and short enough for a 64-bit column.
_ID_RE = re.compile(r"[0-9]{1,18}")


def is_id(value):
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def admin_view(view):
    """Anonymous users go to the login page; signed-in users without the admin role get 403."""
    return login_required(permission_required(roles.MANAGE_PROVIDERS, raise_exception=True)(view))


# What a model's audit entry records: the form's fields (a new one is audited with no second list to keep), the
# default parameters and whether the token changed.
AUDITED_FIELDS = [*ModelConfigForm.Meta.fields, *HFModel.PARAMETER_FIELDS, "api_token"]


def _search_text(request, name):
    """A search box's text; NUL cannot be part of a query on PostgreSQL and no name holds it."""
    return request.GET.get(name, "").replace("\x00", "").strip()[:200]


class EditConflict(Exception):
    pass


def _full(exc):
    """A write refused for want of space is answered (503, words); any other database failure goes on up."""
    if not unwritable.is_full(exc):
        raise exc
    return str(unwritable.MESSAGE)


def _unsaved(request):
    return error_pages.refused(request, 503, "unsaved", str(unwritable.MESSAGE))


@admin_view
def provider_list(request):
    health = HFModel.objects.aggregate(
        total=Count("id"),
        ok=Count("id", filter=Q(last_test__ok=True)),
        failing=Count("id", filter=Q(last_test__ok=False)),
        untested=Count("id", filter=Q(last_test__isnull=True)),
    )
    return render(request, "providers/provider_list.html", {"health": health})


@admin_view
def huggingface(request):
    provider = ProviderSettings.load()
    models = HFModel.objects.select_related("last_test").order_by("display_name")
    query = _search_text(request, "q")
    if query:
        models = models.filter(
            Q(display_name__icontains=query) | Q(repo_id__icontains=query) | Q(endpoint_url__icontains=query)
        )
    page = Paginator(models, 50).get_page(request.GET.get("page"))
    usage = usage_by_model([m.pk for m in page])
    facts = served_facts.summaries(page)  # as the router's catalog last said: a list never waits for it
    rows = [{"model": m, "usage": usage.get(m.pk), "facts": facts.get(m.pk, "")} for m in page]
    return render(
        request,
        "providers/huggingface.html",
        {
            "provider": provider,
            "token_readable": provider.secret_readable("api_token"),
            "token_check": token_check.describe(provider.token_check),
            "token_form": ProviderTokenForm(),
            "page": page,
            "rows": rows,
            "query": query,
            "pager_extra": "&" + urlencode({"q": query}) if query else "",
        },
    )


@admin_view
@require_POST
@sensitive_post_parameters("api_token")
@sensitive_variables("token")
def provider_token(request):
    form = ProviderTokenForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("api_token", []):
            messages.error(request, error)
        return redirect("huggingface")
    token = form.cleaned_data["api_token"]
    try:
        checked = token_check.check(token)
    except HFError:
        messages.error(
            request, _("Hugging Face does not accept this token (it is wrong, expired or revoked). Not saved.")
        )
        return redirect("huggingface")
    provider = ProviderSettings.load()
    try:
        with transaction.atomic():
            provider.set_secret("api_token", token)
            provider.token_check = checked
            provider.save()
            audit.record(request, "provider.token_replaced", provider, {"api_token": "token replaced"})
    except OperationalError as exc:
        _full(exc)
        return _unsaved(request)
    masked = provider.masked_secret("api_token")
    if checked.get("error"):
        messages.warning(
            request,
            _("The provider token was saved (%(masked)s) but could not be checked: %(reason)s")
            % {"masked": masked, "reason": token_check.describe(checked)["unchecked"]},
        )
    else:
        messages.success(
            request,
            _("The provider token was saved (%(masked)s): it belongs to %(account)s.")
            % {"masked": masked, "account": checked["account"]},
        )
        for ability in token_check.describe(checked)["abilities"]:
            if not ability["ok"]:
                messages.warning(
                    request,
                    _("This token may not %(ability)s. %(consequence)s")
                    % {"ability": ability["label"], "consequence": ability["missing"]},
                )
    return redirect("huggingface")


def _save(request, form, model, action):
    """Save the form's values; raises EditConflict when the row changed since the form was opened."""
    with transaction.atomic():
        before = {}
        if model.pk:
            current = HFModel.objects.select_for_update().get(pk=model.pk)
            if form.cleaned_data.get("version") != current.version:
                raise EditConflict()
            before = audit.snapshot(current, AUDITED_FIELDS)
        instance = form.save(commit=False)
        changed = form.apply(instance)
        if model.pk:
            instance.version = current.version + 1
        instance.save()
        if action == "model.create":
            fields = [f for f in AUDITED_FIELDS if f != "api_token" or instance.has_secret("api_token")]
        else:
            fields = [f for f in AUDITED_FIELDS if f in changed]
        audit.record(request, action, instance, audit.field_changes(before, instance, fields))
        if "api_token" in changed and action != "model.create":
            audit.record(request, "model.token_replaced", instance, {"api_token": "token replaced"})
    return instance


def _token_lost(form):
    """A typed token is not sent back into the page after a failed save; the form says so."""
    return form.is_bound and bool(form.errors) and bool(form.data.get("api_token"))


@admin_view
@sensitive_post_parameters("api_token")
def model_add(request):
    form = ModelConfigForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                model = _save(request, form, HFModel(), "model.create")
                _adopt_form_test(request, model)
        except OperationalError as exc:
            form.add_error(None, _full(exc))  # the form keeps what was typed, but for the token
            status = 503
        else:
            for note in form.notes:
                messages.info(request, note)
            messages.success(request, _("%(name)s was added.") % {"name": model.display_name})
            return redirect("model_detail", pk=model.pk)
    context = {"form": form, "model": None, "token_lost": _token_lost(form)}
    return render(request, "providers/model_form.html", context, status=status)


@admin_view
@sensitive_post_parameters("api_token")
def model_edit(request, pk):
    model = get_object_or_404(HFModel, pk=pk)
    form = ModelConfigForm(request.POST or None, instance=model)
    conflict = False
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            _save(request, form, model, "model.update")
        except OperationalError as exc:
            form.add_error(None, _full(exc))
            status = 503
        except EditConflict:
            conflict = True
            form.add_error(
                None,
                _(
                    "This model was changed by someone else since you opened it. "
                    "Reload to see their changes, then apply yours again."
                ),
            )
        else:
            for note in form.notes:
                messages.info(request, note)
            messages.success(request, _("%(name)s was saved.") % {"name": form.cleaned_data["display_name"]})
            return redirect("model_detail", pk=pk)
    token_readable = model.secret_readable("api_token")
    return render(
        request,
        "providers/model_form.html",
        {
            "form": form,
            "model": HFModel.objects.get(pk=pk) if conflict else model,
            "conflict": conflict,
            "token_readable": token_readable,
            "token_lost": _token_lost(form),
        },
        status=status,
    )


@admin_view
def model_detail(request, pk):
    model = get_object_or_404(HFModel.objects.select_related("last_test"), pk=pk)
    return render(
        request,
        "providers/model_detail.html",
        {
            "model": model,
            "tests": model.tests.all()[:20],
            "usage": usage_by_model([model.pk]).get(model.pk),
            "token_readable": model.secret_readable("api_token"),
            "facts": served_facts.facts_for(model),
            "vectors": served_facts.vector_facts(model),
            "computes_vectors": model.task in EMBEDDING_TASKS,  # generation parameters mean nothing to it
            "parameters": [
                f"{display.label(k)}: {display.value_text(v)}" for k, v in model.default_parameters().items()
            ],
        },
    )


@admin_view
@require_POST
def model_toggle(request, pk):
    try:
        with transaction.atomic():
            model = get_object_or_404(HFModel.objects.select_for_update(), pk=pk)
            model.enabled = not model.enabled
            model.version += 1
            model.save(update_fields=["enabled", "version", "updated_at"])
            audit.record(
                request,
                "model.enable" if model.enabled else "model.disable",
                model,
                {"enabled": {"from": not model.enabled, "to": model.enabled}},
            )
    except OperationalError as exc:
        _full(exc)
        return _unsaved(request)
    if model.enabled:
        messages.success(request, _("%(name)s is enabled.") % {"name": model.display_name})
    else:
        messages.success(request, _("%(name)s is disabled.") % {"name": model.display_name})
    if request.POST.get("next") == "detail":
        return redirect("model_detail", pk=model.pk)
    return redirect("huggingface")


@admin_view
def model_delete(request, pk):
    model = get_object_or_404(HFModel, pk=pk)
    if request.method == "POST":
        try:
            with transaction.atomic():
                audit.record(request, "model.delete", model, audit.field_changes({}, model, AUDITED_FIELDS[:6]))
                model.delete()
        except OperationalError as exc:
            _full(exc)
            return _unsaved(request)
        messages.success(request, _("%(name)s was deleted.") % {"name": model.display_name})
        return redirect("huggingface")
    return render(request, "providers/model_delete.html", {"model": model})


PENDING_TEST_AGE = timedelta(hours=1)


def _adopt_form_test(request, model):
    """A test run from the form before the model existed becomes its first history entry, if it tested these values."""
    pending = request.POST.get("pending_test", "")
    if not pending.isdigit():
        return
    since = timezone.now() - PENDING_TEST_AGE
    test = ConnectionTest.objects.filter(
        pk=pending, model__isnull=True, created_by=request.user, created_at__gte=since
    ).first()
    if test is None or test.config != tested_config(model):
        return
    test.model = model
    test.save(update_fields=["model"])
    HFModel.objects.filter(pk=model.pk, last_test__isnull=True).update(last_test=test)


def _finish_test(request, model, result):
    """Record the result (history for a saved model, a pending entry for a form's values) and audit it. A result
    the database cannot take is still shown, with `recorded` false and the reason as its last step."""
    try:
        with transaction.atomic():
            if not model.pk:  # form tests never saved as a model: kept an hour, for `_adopt_form_test`
                old = timezone.now() - PENDING_TEST_AGE
                ConnectionTest.objects.filter(model__isnull=True, created_at__lt=old).delete()
            entry = record_test(model if model.pk else None, result, request.user, config=tested_config(model))
            audit.record(
                request,
                "model.test",
                model if model.pk else None,
                {"model": model.display_name, "ok": result["ok"], "category": result["category"]},
            )
    except OperationalError as exc:
        message = _full(exc)
        result["recorded"] = False
        result["steps"] = [*result["steps"], {"name": _("Saved to history"), "ok": False, "detail": message}]
        result["errors"] = {"__all__": [{"message": message, "code": "unsaved"}]}
        return result
    result["recorded"] = True
    result["test_id"] = entry.pk
    result["tested_at"] = entry.created_at.isoformat()
    result["tested_at_display"] = display.when(entry.created_at)
    return result


def _wants_stream(request):
    return "application/x-ndjson" in request.headers.get("Accept", "")


def _test_response(request, model, record_on, typed=""):
    """JSON with the whole result, or (Accept: application/x-ndjson) each step as an NDJSON line as it completes."""
    if not _wants_stream(request):
        result = _finish_test(request, record_on, run_test(model, typed_token=typed))
        return JsonResponse(result, status=200 if result["recorded"] else 503)
    language = translation.get_language()

    def lines():
        with translation.override(language):
            for event in stream_test(model, typed):
                if event["type"] == "result":
                    event["result"] = _finish_test(request, record_on, event["result"])
                yield line(event)

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@admin_view
@require_POST
def model_test(request, pk):
    model = get_object_or_404(HFModel, pk=pk)
    return _test_response(request, model, model)


@admin_view
@require_POST
@sensitive_post_parameters("api_token")
@sensitive_variables("typed")
def model_test_form(request):
    """Test the values in the form before saving them."""
    instance = None
    if is_id(request.POST.get("model_id")):
        instance = HFModel.objects.filter(pk=request.POST["model_id"]).first()
    form = ModelConfigForm(request.POST, instance=instance)
    if not form.is_valid():
        return JsonResponse({"ok": False, "form_errors": form.errors.get_json_data()}, status=400)
    model = form.save(commit=False)
    typed = form.cleaned_data.get("api_token", "")
    if form.cleaned_data.get("clear_token"):
        model.set_secret("api_token", "")
    # The history belongs to the saved model, whose stored values stay as they are.
    record_on = instance if instance is not None else model
    return _test_response(request, model, record_on, typed)


@admin_view
def export(request):
    data = export_models()
    audit.record(request, "models.export", None, {"count": len(data["models"])})
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="huggingface-models.json"'
    return response


@admin_view
def import_view(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    report = errors = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            # One byte past the limit is enough to refuse the file without holding all of it.
            entries = transfer.parse(form.cleaned_data["file"].read(settings.IMPORT_MAX_BYTES + 1))
            report = import_models(
                entries, lambda done: audit.record(request, "models.import", None, {k: len(v) for k, v in done.items()})
            )
        except ImportRejected as exc:
            errors = exc.errors
        except OperationalError as exc:
            report, errors, status = None, [_full(exc)], 503
    context = {"form": form, "report": report, "errors": errors}
    return render(request, "providers/import.html", context, status=status)


@admin_view
def audit_log(request):
    entries = AuditEntry.objects.all()
    action = _search_text(request, "action")
    actor = _search_text(request, "actor")
    target = _search_text(request, "target")
    if action:
        entries = entries.filter(action__startswith=action)
    if actor:
        entries = entries.filter(actor_name__icontains=actor)
    if target:
        entries = entries.filter(target_repr__icontains=target)
    page = Paginator(entries, 25).get_page(request.GET.get("page"))
    codes = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    actions = sorted(((code, display.action_title(code)) for code in codes), key=lambda a: a[1])
    return render(
        request,
        "providers/audit.html",
        {
            "page": page,
            "action": action,
            "actor": actor,
            "target": target,
            "actions": actions,
            "pager_extra": "&" + urlencode({"action": action, "actor": actor, "target": target}),
        },
    )
