""" "Test connection": check token, model and endpoint step by step, then run one tiny generation."""

import time

from django.conf import settings
from django.utils.translation import gettext as _

from providers import cached, crypto, freshness
from providers.huggingface import client, engines
from providers.huggingface.errors import HFError
from providers.models import ConnectionTest, EndpointType, ProviderSettings, Task

PROBE_PROMPT = "Hello"
PROBE_TOKENS = 5


def resolve_token(model, typed_token=""):
    """The token a model uses: one typed in the form, the model's own, else the provider's."""
    if typed_token:
        return typed_token
    if getattr(model, "from_cache", False):  # a playground model: its token is decrypted once per change
        return cached.token(model, _stored_token)
    return _stored_token(model)


def _stored_token(model):
    try:
        if model.has_secret("api_token"):
            return model.get_secret("api_token")
        provider = ProviderSettings.stored()
        return provider.get_secret("api_token") if provider else ""
    except crypto.UndecryptableSecret:
        raise HFError("token_unreadable") from None


def target_for(model, typed_token="", scale_up=False, detect=True):
    """The client Target of a model; a saved endpoint model whose engine is not known yet learns it once."""
    token = resolve_token(model, typed_token)
    if not token and model.endpoint_type != EndpointType.INFERENCE_ENDPOINT:
        raise HFError("no_token")
    target = client.Target(
        endpoint_type=model.endpoint_type,
        task=model.task,
        repo_id=model.repo_id,
        endpoint_url=model.endpoint_url,
        token=token,
        scale_up_timeout=settings.HF_SCALE_UP_TIMEOUT if scale_up else 0,
        engine=model.engine,
        served_model=model.served_model,
    )
    if detect and model.pk and model.endpoint_type == EndpointType.INFERENCE_ENDPOINT and not model.engine:
        found = client.identify_engine(target.endpoint_url, token, client.Deadline(settings.HF_TEST_TIMEOUT))
        remember_engine(model, found)
        target.engine, target.served_model = found.engine, found.served_model
    return target


def remember_engine(model, found):
    """Store what was found behind the URL, so later runs need not ask again."""
    model.engine, model.served_model = found.engine, found.served_model[:300]
    if model.pk:
        changed = (
            type(model)
            .objects.filter(pk=model.pk, endpoint_url=model.endpoint_url)
            .update(engine=model.engine, served_model=model.served_model)
        )
        if changed:
            freshness.bump()  # processes holding the model in memory learn the engine too, instead of asking again


def split_provider(repo_id):
    """`org/name:provider` -> (`org/name`, `provider`); the policy suffixes count as no provider."""
    name, _sep, suffix = repo_id.partition(":")
    return name, "" if suffix in ("", "fastest", "cheapest", "preferred") else suffix


class _Steps(list):
    def add(self, name, ok, detail=""):
        self.append({"name": str(name), "ok": ok, "detail": str(detail)})


def run_test(model, typed_token="", scale_up=False):
    """Test one model (saved or not). Returns a dict; never raises for an upstream failure."""
    started = time.monotonic()
    deadline = client.Deadline(settings.HF_TEST_TIMEOUT)
    steps = _Steps()
    server_info = {}
    try:
        target = target_for(model, typed_token, scale_up, detect=False)
        if model.endpoint_type == EndpointType.INFERENCE_ENDPOINT:
            server_info = _check_endpoint(model, target, deadline, steps)
        else:
            _check_hub(model, target, deadline, steps)
        params = {"max_new_tokens": PROBE_TOKENS}
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
        return _result(True, started, steps, server_info, sample=finish.text, server=finish.server)
    except HFError as exc:
        if exc.category == "bad_response" and server_info.get("reachable"):
            exc = HFError("not_text_generation_server", exc.message, http_status=exc.http_status)
        steps.add(_("Failed"), False, exc.message)
        return _result(False, started, steps, server_info, error=exc)


def _check_hub(model, target, deadline, steps):
    info = client.whoami(target.token, deadline)
    allowed = info.can_call_providers
    steps.add(_("Token"), allowed, _("valid, %(role)s token of %(name)s") % {"role": info.role, "name": info.name})
    if not allowed:
        raise HFError(
            "token_lacks_permission",
            _("This fine-grained token lacks the permission “Make calls to Inference Providers”."),
        )
    repo_id, provider = split_provider(model.repo_id)
    hub = client.model_info(
        repo_id,
        target.token,
        deadline=deadline,
        expand=("pipeline_tag", "gated", "inference", "inferenceProviderMapping", "tags"),
    )
    mapping = client.provider_mapping(hub)
    gated = hub.get("gated") or False
    steps.add(
        _("Model on the Hub"),
        True,
        _("pipeline %(tag)s, gated: %(gated)s") % {"tag": hub.get("pipeline_tag") or "-", "gated": gated},
    )
    if model.endpoint_type == EndpointType.INFERENCE_PROVIDERS:
        live = sorted(p for p, status in mapping.items() if status == "live")
        steps.add(_("Providers"), bool(live), ", ".join(f"{p} ({s})" for p, s in sorted(mapping.items())) or "-")
        if not live:
            raise HFError("model_not_served", _("No Inference Provider serves %(repo)s live.") % {"repo": repo_id})
        if provider and provider not in live:
            raise HFError(
                "model_not_served",
                _("The provider %(p)s does not serve this model live; live: %(live)s")
                % {"p": provider, "live": ", ".join(live)},
            )
        return
    tag = hub.get("pipeline_tag")
    if tag and tag != model.task:
        raise HFError(
            "wrong_task",
            _("The Hub lists %(repo)s as %(tag)s, not %(task)s.") % {"repo": repo_id, "tag": tag, "task": model.task},
        )
    served = hub.get("inference") == "warm" or mapping.get("hf-inference") == "live"
    if not served:
        others = sorted(p for p, s in mapping.items() if s == "live" and p != "hf-inference")
        hint = _(" It is served by Inference Providers: %(p)s.") % {"p": ", ".join(others)} if others else ""
        raise HFError("model_not_served", _("hf-inference does not serve %(repo)s.") % {"repo": repo_id} + hint)


def _check_endpoint(model, target, deadline, steps):
    found = client.identify_engine(target.endpoint_url, target.token, deadline, target.headers(), with_version=True)
    remember_engine(model, found)
    target.engine, target.served_model = found.engine, found.served_model
    summary = {"engine": found.engine, "engine_name": found.label}
    summary.update({k: v for k, v in (("version", found.version), ("served_model", found.served_model)) if v})
    if found.context_length:
        summary["context_length"] = found.context_length
    if found.engine == engines.UNKNOWN:
        steps.add(_("Server"), True, _("no /info or /v1/models route: not identified, trying the TGI route anyway"))
        return {"reachable": True, **summary}
    steps.add(_("Server"), found.engine != engines.TEI, found.describe())
    engines.check_generates(found.engine)
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


def _result(ok, started, steps, server_info, sample="", server=None, error=None):
    info = {k: v for k, v in server_info.items() if k != "reachable"}
    if server:
        info["headers"] = server
    result = {
        "ok": ok,
        "category": error.category if error else "",
        "message": error.message if error else _("The model answered."),
        "explanation": str(error.explanation) if error else "",
        "fix": str(error.fix) if error else "",
        "http_status": error.http_status if error else 200,
        "retry_after": error.retry_after if error else None,
        "estimated_time": error.estimated_time if error else None,
        "latency_ms": int((time.monotonic() - started) * 1000),
        "sample_output": sample[:1000],
        "server_info": info,
        "steps": list(steps),
    }
    return result


def record_test(model, result, user):
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
        created_by=user if user and user.is_authenticated else None,
    )
    type(model).objects.filter(pk=model.pk).update(last_test=entry)
    model.last_test = entry
    return entry
