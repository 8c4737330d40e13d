"""JSON for the model form's pickers (Hub models, the account's Inference Endpoints) and endpoint resume/wake.

The token stays on the server: the browser gets model and endpoint facts, never the token.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from providers.core import audit
from providers.core.targets import resolve_token
from providers.huggingface import catalog, endpoints_api
from providers.huggingface.errors import HFError
from providers.models import EndpointType, HFModel
from providers.settings_screen.views import admin_view, is_id

TASKS = ("chat", "text-generation", "text2text-generation", "feature-extraction", "text-ranking")
UNREACHABLE = ("timeout", "connection_refused", "connection_lost", "dns_failure", "tls_error", "blocked_by_url_policy")


def _failure(exc, status=200):
    """An upstream failure as the pickers show it: sentences, no codes (the category stays for the script)."""
    return JsonResponse(
        {"ok": False, "category": exc.category, "message": exc.for_admin(), "explanation": str(exc.explanation)},
        status=status,
    )


def _provider_token():
    try:
        return resolve_token(HFModel())
    except HFError:
        return ""


@admin_view
@require_GET
def model_search(request):
    query = request.GET.get("q", "").strip()[:100]
    task = request.GET.get("task", "")
    if len(query) < 2:
        return JsonResponse({"ok": True, "results": [], "next": ""})
    try:
        answer = catalog.search(query, task if task in TASKS else "", _provider_token(), request.GET.get("cursor", ""))
    except HFError as exc:
        if exc.category in UNREACHABLE:
            message = _("The Hugging Face Hub cannot be reached right now; type the repo id yourself.")
        else:
            message = _("The Hugging Face Hub did not answer the search; type the repo id yourself.")
        return JsonResponse({"ok": False, "category": exc.category, "message": message, "explanation": exc.message})
    return JsonResponse({"ok": True, **answer})


@admin_view
@require_GET
def endpoint_list(request):
    token = _provider_token()
    if not token:
        return _failure(HFError("no_token"))
    try:
        answer = endpoints_api.list_all(token)
    except HFError as exc:
        return _failure(exc)
    return JsonResponse({"ok": True, **answer})


def _names(data):
    namespace, name = data.get("namespace", ""), data.get("name", "")
    if not (endpoints_api.valid_name(namespace) and endpoints_api.valid_name(name)):
        return None
    return namespace, name


@admin_view
@require_GET
def endpoint_state(request):
    names = _names(request.GET)
    if names is None:
        return JsonResponse({"ok": False, "message": _("Choose an endpoint from the list.")})
    token = _model_token(_model(request.GET.get("model"))) or _provider_token()
    try:
        return JsonResponse({"ok": True, "endpoint": endpoints_api.state(*names, token)})
    except HFError as exc:
        return _failure(exc)


def _model(pk):
    return HFModel.objects.filter(pk=pk).first() if is_id(pk) else None


def _model_token(model):
    if model is None:
        return ""
    try:
        return resolve_token(model)
    except HFError:
        return ""


@admin_view
@require_POST
def endpoint_start(request):
    """Resume a paused endpoint or wake a scaled-to-zero one; the browser then watches endpoint_state."""
    names = _names(request.POST)
    if names is None:
        return JsonResponse({"ok": False, "message": _("Choose an endpoint from the list.")}, status=400)
    model = _model(request.POST.get("model"))
    token = _model_token(model) or _provider_token()
    try:
        action, summary = endpoints_api.start(*names, token)
    except HFError as exc:
        audit.record(request, "endpoint.start_failed", model, {"endpoint": "/".join(names), "category": exc.category})
        reason = endpoints_api.reason(exc, names[0])
        return JsonResponse(
            {"ok": False, "category": exc.category, "message": reason, "explanation": str(exc.explanation)}
        )
    if action != "none":  # already running or starting: nothing was done, nothing to record
        audit.record(request, f"endpoint.{action}", model, {"endpoint": "/".join(names), "state": summary["state"]})
    watch = settings.HF_ENDPOINT_WATCH_SECONDS  # how long the page keeps polling the state
    return JsonResponse({"ok": True, "action": action, "endpoint": summary, "watch_seconds": watch})


@admin_view
@require_GET
def model_endpoint(request, pk):
    """The control-plane record behind a saved Inference Endpoint model, found by its URL."""
    model = get_object_or_404(HFModel, pk=pk)
    if model.endpoint_type != EndpointType.INFERENCE_ENDPOINT:
        return JsonResponse({"ok": False, "message": _("This model does not use an Inference Endpoint.")})
    token = _model_token(model)
    if not token:
        return _failure(HFError("no_token"))
    try:
        found = endpoints_api.find_by_url(token, model.endpoint_url)
        if found is not None:  # the URL's endpoint is cached briefly, its state never
            found = endpoints_api.state(found["namespace"], found["name"], token)
    except endpoints_api.ListUnreadable as exc:  # "could not ask" is not "the answer is no"
        message = _(
            "The list of Inference Endpoints could not be read, so the console cannot tell whether this URL is one "
            "of them: %(reason)s"
        ) % {"reason": exc.for_admin()}
        return JsonResponse({"ok": False, "category": exc.category, "message": message, "unreadable": True})
    except HFError as exc:
        return _failure(exc)
    if found is None:
        return JsonResponse(
            {"ok": False, "message": _("This URL is not one of the Inference Endpoints this token can see.")}
        )
    return JsonResponse({"ok": True, "endpoint": found})
