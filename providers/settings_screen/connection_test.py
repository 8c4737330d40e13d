""" "Test connection": check token, model and endpoint step by step, then run one tiny generation."""

import math
import queue
import threading
import time

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.core.targets import remember_engine, save_engine, target_for
from providers.huggingface import adapters, catalog, embedding, engines, generation, hub, provider_routes, transport
from providers.huggingface.errors import ADMIN_HINTS, HFError
from providers.models import EMBEDDING_TASKS, ConnectionTest, EndpointType, Task

PROBE_PROMPT = "Hello"
PROBE_TOKENS = 5


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


def run_test(model, typed_token="", listener=None, target=None):
    """Test one model (saved or not). Returns a dict; never raises for an upstream failure.

    `listener`, if given, is called with each step as it starts and completes, and with a `loading` event when
    a call waits for a model to load, a rate limit, or an endpoint to wake (category `endpoint_waking`).
    `target` skips resolving the token (the caller did it already).
    """
    started = time.monotonic()
    deadline = transport.Deadline(settings.HF_TEST_TIMEOUT)
    if listener:
        deadline.on_wait = lambda category, seconds: listener(
            {"type": "loading", "category": category, "seconds": round(seconds, 1)}
        )
    steps = _Steps(listener)
    server_info = {}
    try:
        target = target or target_for(model, typed_token, detect=False)
        if model.endpoint_type == EndpointType.INFERENCE_ENDPOINT:
            server_info = _check_endpoint(model, target, deadline, steps, save=listener is None)
        else:
            _check_hub(model, target, deadline, steps)
        if model.task in EMBEDDING_TASKS:
            sample = _probe_vectors(model, target, deadline, steps, server_info)
            return _result(model, True, started, steps, server_info, sample=sample)
        params = {"max_new_tokens": PROBE_TOKENS}
        steps.begin(_("Tiny generation"))
        if model.task == Task.CHAT:
            chunks = generation.generate(
                target, params, messages=[{"role": "user", "content": PROBE_PROMPT}], deadline=deadline
            )
        else:
            chunks = generation.generate(
                target, {**params, "return_full_text": False}, prompt=PROBE_PROMPT, deadline=deadline
            )
        finish = [c for c in chunks if isinstance(c, adapters.Finish)][0]
        steps.add(_("Tiny generation"), True, finish.text[:200])
        return _result(model, True, started, steps, server_info, sample=finish.text, server=finish.server)
    except HFError as exc:
        if exc.category == "bad_response" and server_info.get("reachable"):
            exc = HFError("not_text_generation_server", exc.message, http_status=exc.http_status)
        catalog.suggest_switch(exc, model.endpoint_type, model.repo_id)
        steps.add(_("Failed"), False, exc.page_words()[0])
        return _result(model, False, started, steps, server_info, error=exc)


def _check_hub(model, target, deadline, steps):
    steps.begin(_("Token"))
    info = hub.whoami(target.token, deadline)
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
    card = hub.model_info(
        repo_id,
        target.token,
        deadline=deadline,
        expand=("pipeline_tag", "gated", "inference", "inferenceProviderMapping", "tags"),
    )
    mapping = hub.provider_mapping(card)
    tag = card.get("pipeline_tag")
    detail = _("listed as %(tag)s") % {"tag": tag} if tag else _("no task listed")
    if card.get("gated"):
        detail += _("; gated: access must be granted")
    steps.add(_("Model on the Hub"), True, detail)
    live = sorted(p for p, status in mapping.items() if status == "live")
    if model.endpoint_type == EndpointType.INFERENCE_PROVIDERS and model.task == Task.FEATURE_EXTRACTION:
        serving = provider_routes.serving(card)
        steps.add(
            _("Providers"),
            bool(serving),
            _("computing its embeddings live: %(names)s") % {"names": ", ".join(serving)}
            if serving
            else _("none live"),
        )
        target.provider, target.served_model = provider_routes.choose(model.repo_id, card)
        steps.add(_("Provider chosen"), True, target.provider)
        return
    if model.endpoint_type == EndpointType.INFERENCE_PROVIDERS:
        if not live:  # the Hub's mapping may lag the router's own catalog, which is what routes the call
            item = catalog.router_items(target.token, deadline).get(repo_id) or {}
            live = sorted({p.get("provider") for p in item.get("providers", []) if p.get("status") == "live"} - {None})
        steps.add(
            _("Providers"), bool(live), _("live: %(names)s") % {"names": ", ".join(live)} if live else _("none live")
        )
        chat_model = "conversational" in (card.get("tags") or [])
        if not chat_model and set(live) <= {"hf-inference"} and (live or card.get("inference") == "warm"):
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
    if tag and tag != model.task and not (model.task == Task.FEATURE_EXTRACTION and tag in SIMILARITY_TAGS):
        raise HFError(
            "wrong_task",
            _("The Hub lists %(repo)s as %(tag)s, not %(task)s.") % {"repo": repo_id, "tag": tag, "task": model.task},
        )
    served = card.get("inference") == "warm" or mapping.get("hf-inference") == "live"
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


def _check_endpoint(model, target, deadline, steps, save=True):
    steps.begin(_("Server"))
    found = engines.identify_engine(target.endpoint_url, target.token, deadline, target.headers(), with_version=True)
    remember_engine(model, found, save=save)
    target.engine, target.served_model = found.engine, found.served_model
    summary = {"engine": found.engine, "engine_name": found.label}
    summary.update({k: v for k, v in (("version", found.version), ("served_model", found.served_model)) if v})
    if found.context_length:
        summary["context_length"] = found.context_length
    if found.pooling:
        summary["pooling"] = found.pooling
    if found.engine == engines.UNKNOWN:
        steps.add(_("Server"), True, _("no /info or /v1/models route: not identified, trying the TGI route anyway"))
        return {"reachable": True, **summary}
    steps.add(_("Server"), found.engine != engines.TEI or model.task in EMBEDDING_TASKS, found.describe())
    if model.task not in EMBEDDING_TASKS:
        adapters.adapter_for(target).check_generates(target)
    elif found.engine == engines.TGI:
        raise HFError(
            "wrong_task", _("This endpoint runs TGI: it generates text and computes no embeddings or scores.")
        )
    elif found.engine == engines.TEI and found.pipeline_tag != model.task:
        raise HFError(
            "wrong_task",
            _("The endpoint's model is for %(tag)s; the task here is %(task)s.")
            % {"tag": found.pipeline_tag, "task": model.task},
        )
    configured = split_provider(model.repo_id)[0]
    if configured and found.served_model and configured.lower() != found.served_model.lower():
        warning = _("The model here is %(configured)s but the server serves %(served)s.") % {
            "configured": configured,
            "served": found.served_model,
        }
        summary["warning"] = warning
        steps.add(_("Model name"), True, warning)
    tag = found.pipeline_tag
    if tag in ("text-generation", "text2text-generation") and target.task != "chat" and tag != target.task:
        raise HFError(
            "wrong_task",
            _("The endpoint serves a %(tag)s model; the task here is %(task)s.") % {"tag": tag, "task": target.task},
        )
    return {"reachable": True, **summary}


SIMILARITY_TAGS = {"feature-extraction", "sentence-similarity"}  # sentence-transformers models list the latter
PROBE_DOCUMENTS = ["Deep learning is a kind of machine learning.", "Paris is the capital of France."]


def _probe_vectors(model, target, deadline, steps, server_info):
    """One short text embedded, or two documents reranked: the sample the result shows. What the vector says of
    the model (its dimensions, whether it has unit length) joins `server_info`, for the model's page."""
    if model.task == Task.FEATURE_EXTRACTION:
        steps.begin(_("Tiny embedding"))
        found = embedding.embed(target, [PROBE_PROMPT], deadline=deadline)
        size = len(found.vectors[0])
        server_info["dimensions"] = size
        server_info["normalized"] = abs(math.sqrt(sum(x * x for x in found.vectors[0])) - 1) < 1e-3
        preview = ", ".join(f"{x:.3f}" for x in found.vectors[0][:3])
        detail = _("%(n)s dimensions: [%(preview)s, …]") % {"n": size, "preview": preview}
        steps.add(_("Tiny embedding"), True, detail)
        return detail
    steps.begin(_("Tiny rerank"))
    ranking = embedding.rerank(target, "What is deep learning?", PROBE_DOCUMENTS, deadline=deadline)
    detail = "; ".join(f"{PROBE_DOCUMENTS[i][:20]}… {score:.3f}" for i, score in ranking.results)
    steps.add(_("Tiny rerank"), True, detail)
    return detail


def _result(model, ok, started, steps, server_info, sample="", server=None, error=None):
    info = {k: v for k, v in server_info.items() if k != "reachable"}
    if server:
        info["headers"] = server
    title, advice = error.wording(model.endpoint_type) if error else (_("Connection works"), "")
    # Test connection is for admins: the upstream's own words come along, apart from the console's.
    message, upstream = error.page_words() if error else (_("The model answered."), "")
    diagnosis = {"variant": error.variant, "context": error.context} if error and error.variant else {}
    if upstream:
        diagnosis["upstream"] = upstream
    result = {
        "ok": ok,
        "category": error.category if error else "",
        "title": title,
        "message": message,
        "upstream": upstream,
        "admin_hint": str(ADMIN_HINTS.get(error.category, "")) if error else "",
        "advice": advice,
        "fix": advice,
        "http_status": error.http_status if error else 200,
        "retry_after": error.retry_after if error else None,
        "estimated_time": error.estimated_time if error else None,
        "latency_ms": int((time.monotonic() - started) * 1000),
        "sample_output": sample[:1000],
        "server_info": info,
        "steps": list(steps),
        "diagnosis": diagnosis,
    }
    return result


HEARTBEAT_SECONDS = 1.0


def stream_test(model, typed_token=""):
    """The test as events, each as it happens: `running` and `step` per step, `loading` while a model loads (or
    an endpoint wakes),
    `wait` heartbeats (elapsed ms) while nothing else is said, then one `result` (the dict of `run_test`).

    The token is resolved here (database access stays in the caller's thread); the upstream calls run in a
    worker thread so the heartbeats keep coming while a call is silent. A closed stream lets the worker finish
    on its own within HF_TEST_TIMEOUT.
    """
    started = time.monotonic()
    try:
        target = target_for(model, typed_token, detect=False)
    except HFError as exc:
        yield {"type": "result", "result": _failed_before_start(model, started, exc)}
        return
    events = queue.Queue()
    language = translation.get_language()

    def work():
        with translation.override(language):
            try:
                result = run_test(model, typed_token, listener=events.put, target=target)
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
        if event["type"] == "result" and model.engine:
            save_engine(model)  # what the worker found behind the URL, saved from this thread
        yield event
        if event["type"] == "result":
            return


def _failed_before_start(model, started, error):
    steps = _Steps()
    steps.add(_("Failed"), False, error.page_words()[0])
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
