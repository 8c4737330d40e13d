""" "Test connection": check token, model and endpoint step by step, then run one tiny generation."""

import queue
import threading
import time

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers import crypto
from providers.huggingface import client
from providers.huggingface.errors import HFError
from providers.models import ConnectionTest, EndpointType, ProviderSettings, Task

PROBE_PROMPT = "Hello"
PROBE_TOKENS = 5


def resolve_token(model, typed_token=""):
    """The token a model uses: one typed in the form, the model's own, else the provider's."""
    if typed_token:
        return typed_token
    try:
        if model.has_secret("api_token"):
            return model.get_secret("api_token")
        provider = ProviderSettings.stored()
        return provider.get_secret("api_token") if provider else ""
    except crypto.UndecryptableSecret:
        raise HFError("token_unreadable") from None


def target_for(model, typed_token="", scale_up=False):
    token = resolve_token(model, typed_token)
    if not token and model.endpoint_type != EndpointType.INFERENCE_ENDPOINT:
        raise HFError("no_token")
    return client.Target(
        endpoint_type=model.endpoint_type,
        task=model.task,
        repo_id=model.repo_id,
        endpoint_url=model.endpoint_url,
        token=token,
        scale_up_timeout=settings.HF_SCALE_UP_TIMEOUT if scale_up else 0,
    )


def split_provider(repo_id):
    """`org/name:provider` -> (`org/name`, `provider`); the policy suffixes count as no provider."""
    name, _sep, suffix = repo_id.partition(":")
    return name, "" if suffix in ("", "fastest", "cheapest", "preferred") else suffix


TOKEN_ROLES = {
    "read": gettext_lazy("read"),
    "write": gettext_lazy("write"),
    "fineGrained": gettext_lazy("fine-grained"),
}


class _Steps(list):
    """The steps done so far; each one is also told to the listener the moment it completes."""

    def __init__(self, listener=None):
        super().__init__()
        self.listener = listener

    def begin(self, name):
        if self.listener:
            self.listener({"type": "running", "name": str(name)})

    def add(self, name, ok, detail=""):
        step = {"name": str(name), "ok": ok, "detail": str(detail)}
        self.append(step)
        if self.listener:
            self.listener({"type": "step", **step})


def run_test(model, typed_token="", scale_up=False, listener=None, target=None):
    """Test one model (saved or not). Returns a dict; never raises for an upstream failure.

    `listener`, if given, is called with each step as it starts and completes, and with a `loading` event when
    the client waits for a model to load. `target` skips resolving the token (the caller did it already).
    """
    started = time.monotonic()
    deadline = client.Deadline(settings.HF_TEST_TIMEOUT)
    if listener:
        deadline.on_wait = lambda category, seconds: listener(
            {"type": "loading", "category": category, "seconds": round(seconds, 1)}
        )
    steps = _Steps(listener)
    server_info = {}
    try:
        target = target or target_for(model, typed_token, scale_up)
        if model.endpoint_type == EndpointType.INFERENCE_ENDPOINT:
            server_info = _check_endpoint(target, deadline, steps)
        else:
            _check_hub(model, target, deadline, steps)
        params = {"max_new_tokens": PROBE_TOKENS}
        steps.begin(_("Tiny generation"))
        if model.task == Task.CHAT:
            chunks = client.generate(
                target, params, messages=[{"role": "user", "content": PROBE_PROMPT}], deadline=deadline
            )
        else:
            chunks = client.generate(
                target, {**params, "return_full_text": False}, prompt=PROBE_PROMPT, deadline=deadline
            )
        finish = [c for c in chunks if isinstance(c, client.Finish)][0]
        steps.add(_("Tiny generation"), True, finish.text[:200])
        return _result(model, True, started, steps, server_info, sample=finish.text, server=finish.server)
    except HFError as exc:
        if exc.category == "bad_response" and server_info.get("reachable"):
            exc = HFError("not_text_generation_server", exc.message, http_status=exc.http_status)
        steps.add(_("Failed"), False, exc.message)
        return _result(model, False, started, steps, server_info, error=exc)


def _check_hub(model, target, deadline, steps):
    steps.begin(_("Token"))
    info = client.whoami(target.token, deadline)
    allowed = info.can_call_providers
    role = TOKEN_ROLES.get(info.role, info.role)
    steps.add(_("Token"), allowed, _("valid, %(role)s token of %(name)s") % {"role": role, "name": info.name})
    if not allowed:
        raise HFError(
            "token_lacks_permission",
            _("This fine-grained token lacks the permission “Make calls to Inference Providers”."),
        )
    repo_id, provider = split_provider(model.repo_id)
    steps.begin(_("Model on the Hub"))
    hub = client.model_info(
        repo_id,
        target.token,
        deadline=deadline,
        expand=("pipeline_tag", "gated", "inference", "inferenceProviderMapping", "tags"),
    )
    mapping = client.provider_mapping(hub)
    tag = hub.get("pipeline_tag")
    detail = _("listed as %(tag)s") % {"tag": tag} if tag else _("no task listed")
    if hub.get("gated"):
        detail += _("; gated: access must be granted")
    steps.add(_("Model on the Hub"), True, detail)
    live = sorted(p for p, status in mapping.items() if status == "live")
    if model.endpoint_type == EndpointType.INFERENCE_PROVIDERS:
        steps.add(
            _("Providers"), bool(live), _("live: %(names)s") % {"names": ", ".join(live)} if live else _("none live")
        )
        chat_model = "conversational" in (hub.get("tags") or [])
        if not chat_model and set(live) <= {"hf-inference"} and (live or hub.get("inference") == "warm"):
            raise HFError(
                "model_not_served",
                _("%(repo)s is not a chat model; only the Hosted Inference API serves it.") % {"repo": repo_id},
                variant="hosted",
                context={"repo": repo_id},
            )
        if not live:
            raise HFError("model_not_served", _("No Inference Provider serves %(repo)s live.") % {"repo": repo_id})
        if provider and provider not in live:
            raise HFError(
                "model_not_served",
                _("The provider %(p)s does not serve this model live; live: %(live)s")
                % {"p": provider, "live": ", ".join(live)},
                variant="suffix",
                context={"first": live[0], "live": ", ".join(live), "suffix": provider},
            )
        return
    if tag and tag != model.task:
        raise HFError(
            "wrong_task",
            _("The Hub lists %(repo)s as %(tag)s, not %(task)s.") % {"repo": repo_id, "tag": tag, "task": model.task},
        )
    served = hub.get("inference") == "warm" or mapping.get("hf-inference") == "live"
    if not served:
        others = [p for p in live if p != "hf-inference"]
        if others:
            raise HFError(
                "model_not_served",
                _("hf-inference does not serve %(repo)s; Inference Providers do.") % {"repo": repo_id},
                variant="live",
                context={"live": ", ".join(others), "first": others[0]},
            )
        raise HFError("model_not_served", _("hf-inference does not serve %(repo)s.") % {"repo": repo_id})


SERVER_FACTS = (
    ("model_id", gettext_lazy("model %(v)s")),
    ("version", gettext_lazy("version %(v)s")),
    ("max_input_tokens", gettext_lazy("up to %(v)s input tokens")),
    ("max_input_length", gettext_lazy("up to %(v)s input tokens")),
    ("max_total_tokens", gettext_lazy("up to %(v)s tokens in all")),
)


def _check_endpoint(target, deadline, steps):
    steps.begin(_("Server"))
    info = client.endpoint_info(target.endpoint_url, target.token, deadline, target.headers())
    if info is None:
        steps.add(_("Server"), True, _("answers, but has no /info route (not text-generation-inference)"))
        return {"reachable": True}
    summary = {
        k: info.get(k)
        for k in (
            "model_id",
            "model_pipeline_tag",
            "version",
            "max_input_tokens",
            "max_input_length",
            "max_total_tokens",
            "router",
        )
        if info.get(k) is not None
    }
    shown = []
    for key, text in SERVER_FACTS:
        if key in summary and not (key == "max_input_length" and "max_input_tokens" in summary):
            shown.append(str(text) % {"v": summary[key]})
    steps.add(_("Server"), True, ", ".join(shown) or _("text-generation-inference"))
    tag = info.get("model_pipeline_tag")
    if tag in ("text-generation", "text2text-generation") and target.task != "chat" and tag != target.task:
        raise HFError(
            "wrong_task",
            _("The endpoint serves a %(tag)s model; the task here is %(task)s.") % {"tag": tag, "task": target.task},
        )
    return {"reachable": True, **summary}


def _result(model, ok, started, steps, server_info, sample="", server=None, error=None):
    info = {k: v for k, v in server_info.items() if k != "reachable"}
    if server:
        info["headers"] = server
    title, advice = error.wording(model.endpoint_type) if error else (_("Connection works"), "")
    result = {
        "ok": ok,
        "category": error.category if error else "",
        "title": title,
        "message": error.message if error else _("The model answered."),
        "advice": advice,
        "fix": advice,
        "http_status": error.http_status if error else 200,
        "retry_after": error.retry_after if error else None,
        "estimated_time": error.estimated_time if error else None,
        "latency_ms": int((time.monotonic() - started) * 1000),
        "sample_output": sample[:1000],
        "server_info": info,
        "steps": list(steps),
        "diagnosis": {"variant": error.variant, "context": error.context} if error and error.variant else {},
    }
    return result


HEARTBEAT_SECONDS = 1.0


def stream_test(model, typed_token="", scale_up=False):
    """The test as events, each as it happens: `running` and `step` per step, `loading` while a model loads,
    `wait` heartbeats (elapsed ms) while nothing else is said, then one `result` (the dict of `run_test`).

    The token is resolved here (database access stays in the caller's thread); the upstream calls run in a
    worker thread so the heartbeats keep coming while a call is silent. A closed stream lets the worker finish
    on its own within HF_TEST_TIMEOUT.
    """
    started = time.monotonic()
    try:
        target = target_for(model, typed_token, scale_up)
    except HFError as exc:
        yield {"type": "result", "result": _failed_before_start(model, started, exc)}
        return
    events = queue.Queue()
    language = translation.get_language()

    def work():
        with translation.override(language):
            try:
                result = run_test(model, typed_token, scale_up, listener=events.put, target=target)
            except Exception as exc:  # never leave the stream waiting for a result that will not come
                result = _failed_before_start(model, started, HFError("upstream_error", str(exc)))
        events.put({"type": "result", "result": result})

    threading.Thread(target=work, daemon=True, name="connection-test").start()
    while True:
        try:
            event = events.get(timeout=HEARTBEAT_SECONDS)
        except queue.Empty:
            yield {"type": "wait", "waited_ms": int((time.monotonic() - started) * 1000)}
            continue
        yield event
        if event["type"] == "result":
            return


def _failed_before_start(model, started, error):
    steps = _Steps()
    steps.add(_("Failed"), False, error.message)
    return _result(model, False, started, steps, {}, error=error)


def tested_config(model):
    """The values a test depends on, to tell whether a test of unsaved values applies to the saved model."""
    return {
        "endpoint_type": model.endpoint_type,
        "task": model.task,
        "repo_id": model.repo_id,
        "endpoint_url": model.endpoint_url,
    }


def record_test(model, result, user, config=None):
    """Keep the result; for unsaved values (model None) it waits to join the model they are saved as."""
    entry = ConnectionTest.objects.create(
        model=model,
        ok=result["ok"],
        category=result["category"],
        message=result["message"],
        http_status=result["http_status"],
        latency_ms=result["latency_ms"],
        sample_output=result["sample_output"],
        server_info=result["server_info"],
        steps=result["steps"],
        config=config or {},
        diagnosis=result.get("diagnosis") or {},
        created_by=user if user and user.is_authenticated else None,
    )
    if model is not None:
        type(model).objects.filter(pk=model.pk).update(last_test=entry)
        model.last_test = entry
    return entry
