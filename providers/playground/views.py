"""The playground: run a prompt or a conversation on a configured model, embed texts or rerank documents, history,
compare."""

import logging
import socket
import time
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from providers.core import cached, db, roles, served_facts
from providers.core.ndjson import line
from providers.core.targets import resolve_token
from providers.huggingface.errors import HFError
from providers.models import PlaygroundRun
from providers.playground import defaults, vectors
from providers.playground.forms import PlaygroundForm, PostedRunForm, VectorRunForm
from providers.playground.runs import (
    Relay,
    history,
    keep_shown,
    new_run,
    rate_limited,
    run_as_dict,
    run_title,
    visible_models,
)

log = logging.getLogger(__name__)


def member_view(view):
    return login_required(permission_required(roles.USE_PLAYGROUND, raise_exception=True)(view))


def _models_payload(models):
    served = served_facts.summaries(models)  # who serves it and at what price, as the router last said
    images = served_facts.images_for(models)
    return [
        {
            "id": m.pk,
            "name": m.display_name,
            "chat": m.is_chat,
            "task": m.task,
            "defaults": m.default_parameters(),
            "failing": bool(m.last_test and not m.last_test.ok),
            "failing_title": str(m.last_test.title) if m.last_test and not m.last_test.ok else "",
            "served": served.get(m.pk, ""),
            "images": images.get(m.pk, False),
            # What each parameter field left empty means for this model: the fields' placeholders.
            "placeholders": defaults.placeholders(m) if m.generates else None,
            # Where the page asks the engine's own defaults, after it shows these (typing never waits for them).
            "live_defaults": reverse("model_defaults", args=[m.pk])
            if m.generates and defaults.has_live_facts(m)
            else "",
        }
        for m in models
    ]


HISTORY_PAGE = 20
PANEL_FIELDS = (*defaults.NAMES, "do_sample", "return_full_text", "stream")


@member_view
def playground(request):
    models = list(visible_models(request.user, vectors=True).select_related("last_test", "last_test__model"))
    query = request.GET.get("q", "").strip()
    page = Paginator(history(request.user, query), HISTORY_PAGE).get_page(request.GET.get("page"))
    form = PlaygroundForm(models=visible_models(request.user, vectors=True))
    failing = {m.pk for m in models if m.last_test and not m.last_test.ok}
    form.fields["model"].label_from_instance = lambda m: f"{m.display_name} ⚠" if m.pk in failing else m.display_name
    for name in PANEL_FIELDS:  # the parameters sit in a side panel outside the form, and still post with it
        form.fields[name].widget.attrs["form"] = "playground-form"
    return render(
        request,
        "playground/playground.html",
        {
            "form": form,
            "vector_form": VectorRunForm(),
            "models_json": _models_payload(models),
            "runs": [
                {
                    "run": run,
                    "title": run_title(run),
                    "turns": sum(1 for m in run.messages if m.get("role") == "user"),
                    "day": timezone.localdate(run.created_at),
                }
                for run in page
            ],
            "page": page,
            "query": query,
            "pager_extra": "&" + urlencode({"q": query}) if query else "",
            "today": timezone.localdate(),
            "max_image_bytes": settings.API_MAX_IMAGE_BYTES,
            "max_image_mb": f"{settings.API_MAX_IMAGE_BYTES / 1_000_000:g}",
        },
    )


@member_view
def model_defaults(request, pk):
    """The placeholders of a model's parameter fields with what its engine says it applies (read once, cached)."""
    model = get_object_or_404(visible_models(request.user).select_related("last_test"), pk=pk)
    words = defaults.placeholders(model, defaults.live_facts(model) if defaults.has_live_facts(model) else None)
    return JsonResponse({"placeholders": words}, headers={"Cache-Control": "private, max-age=60"})


@member_view
def compare(request):
    models = list(visible_models(request.user).select_related("last_test", "last_test__model"))
    return render(
        request,
        "playground/compare.html",
        {
            "form": PlaygroundForm(models=visible_models(request.user)),
            "models": models,
            "models_json": _models_payload(models),
        },
    )


class AnswerResponse(HttpResponse):
    """A whole answer in one plain response. The run reaches history in close(), which the server calls
    once the body is sent: the user does not wait for that write."""

    def __init__(self, relay):
        super().__init__(b"".join(relay.lines()), content_type="application/x-ndjson")
        self.relay = relay

    def close(self):
        try:
            self.relay.save()
        finally:
            super().close()


# What the kernel may hold for a browser that stopped reading. Left to itself it grows a stream's send buffer
# to 4 MB, so a stalled browser kept the whole answer queued and a few hundred of them pressed on every socket
# of the machine (upstreams and the database included); past this the relay waits, and its upstream with it.
STREAM_SEND_BUFFER = 65536


def _bound_send_buffer(request):
    sock = request.META.get("gunicorn.socket")  # the browser's socket under gunicorn; absent in tests' clients
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
        except OSError:
            pass  # a socket already closed: the stream's first write says so


@member_view
@require_POST
def run(request):
    started = getattr(request, "received_at", None) or time.perf_counter()
    form = PostedRunForm(request.POST, cached.enabled_models())
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    if rate_limited(request.user):
        return _too_many_runs()
    group = request.POST.get("compare_group", "")
    try:
        group = uuid.UUID(group) if group else None
    except ValueError:
        group = None
    model = form.cleaned_data["model"]
    detail = request.user.has_perm(roles.MANAGE_PROVIDERS)
    relay = Relay(new_run(request.user, model, form, group), model, form.cleaned_data["stream"], started, detail)
    try:
        resolve_token(model)  # into the cache while the request still has its connection
    except HFError:
        pass  # the relay reports it as the run's error
    try:
        relay.start()
    except DatabaseError as exc:
        return _unrecorded(exc)
    if relay.answered:
        response = AnswerResponse(relay)
    else:
        _bound_send_buffer(request)
        response = StreamingHttpResponse(relay, content_type="application/x-ndjson")
    # Everything but the wait for the upstream's first event, from the request's arrival to here.
    overhead = (time.perf_counter() - started) * 1000 - relay.upstream_ms
    response["X-Console-Overhead-Ms"] = f"{max(overhead, 0):.2f}"
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # tell a reverse proxy not to hold the stream back
    return response


def _too_many_runs():
    message = _("You have reached the limit of runs per minute. Wait a moment and try again.")
    return JsonResponse({"errors": {"__all__": [{"message": message}]}}, status=429)


def _unrecorded(exc):
    """The answer when a new run's row cannot be written."""
    if "locked" in str(exc).lower():
        raise exc  # another writer holds SQLite past its busy timeout: the error view answers "busy", Retry-After
    log.exception("could not create a playground run")
    message = _("The console could not record this run (its database is unavailable or full). Try again soon.")
    return JsonResponse({"errors": {"__all__": [{"message": message}]}}, status=503, headers={"Retry-After": "2"})


@member_view
@require_POST
def vector_run(request):
    """An embeddings or rerank run: one whole answer in NDJSON lines, as a generation's (start, then done or
    error), recorded in history with its inputs and results."""
    started = getattr(request, "received_at", None) or time.perf_counter()
    form = VectorRunForm(request.POST, cached.enabled_models())
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    if rate_limited(request.user):
        return _too_many_runs()
    model = form.cleaned_data["model"]
    run = vectors.new_run(request.user, model, form)
    try:
        db.insert(run)
    except DatabaseError as exc:
        return _unrecorded(exc)
    events = vectors.perform(run, model, started, detail=request.user.has_perm(roles.MANAGE_PROVIDERS))
    response = HttpResponse(b"".join(line(event) for event in events), content_type="application/x-ndjson")
    response["Cache-Control"] = "no-store"
    return response


@member_view
def run_detail(request, pk):
    run = get_object_or_404(PlaygroundRun, pk=pk, user=request.user)
    return JsonResponse(run_as_dict(run, detail=request.user.has_perm(roles.MANAGE_PROVIDERS)))


@member_view
@require_POST
def run_stop(request, pk):
    """Stop pressed: the run keeps exactly the text the page showed (`shown`, in characters)."""
    run = get_object_or_404(PlaygroundRun, pk=pk, user=request.user)
    shown = request.POST.get("shown", "")
    if not (shown.isascii() and shown.isdigit() and len(shown) <= 12):
        return JsonResponse({"errors": {"shown": [{"message": _("Send the length of the text shown.")}]}}, status=400)
    return JsonResponse(run_as_dict(keep_shown(run, int(shown))))


@member_view
@require_POST
def run_delete(request, pk):
    """Delete a run; for a conversation, all its turns (history shows them as one entry)."""
    run = get_object_or_404(PlaygroundRun, pk=pk, user=request.user)
    if run.conversation:
        PlaygroundRun.objects.filter(user=request.user, conversation=run.conversation).delete()
    else:
        run.delete()
    return JsonResponse({"deleted": pk})
