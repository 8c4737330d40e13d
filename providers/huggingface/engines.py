"""The server behind an endpoint URL: which engine answers there (two requests at most) and what it is called.

TGI keeps its own routes (`POST /` for completion); vLLM, SGLang, llama.cpp and any other OpenAI-compatible
server get `/v1/completions` and `/v1/chat/completions`; TEI serves embeddings, not text generation. How each is
spoken to is its adapter's (adapters/). See shared/docs/hf-protocol.md §10.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.huggingface import numbers, transport, urls
from providers.huggingface.errors import HFError

TGI = "tgi"
VLLM = "vllm"
SGLANG = "sglang"
LLAMACPP = "llamacpp"
TEI = "tei"
OPENAI = "openai"  # answers /v1/models, but not as one of the engines above
UNKNOWN = "unknown"  # neither /info nor /v1/models: spoken to as TGI's compat route, as before engines were known

LABELS = {
    TGI: gettext_lazy("text-generation-inference (TGI)"),
    VLLM: gettext_lazy("vLLM"),
    SGLANG: gettext_lazy("SGLang"),
    LLAMACPP: gettext_lazy("llama.cpp server"),
    TEI: gettext_lazy("text-embeddings-inference (TEI)"),
    OPENAI: gettext_lazy("OpenAI-compatible server"),
    UNKNOWN: gettext_lazy("server not identified"),
}
CHOICES = [(key, label) for key, label in LABELS.items()]
OPENAI_COMPATIBLE = {VLLM, SGLANG, LLAMACPP, OPENAI}

# The model id a server announces under /v1/models `owned_by`.
_OWNERS = {"vllm": VLLM, "sglang": SGLANG, "llamacpp": LLAMACPP}


@dataclass
class EngineInfo:
    engine: str
    served_model: str = ""
    version: str = ""
    context_length: int | None = None
    pipeline_tag: str = ""
    vision: bool = False  # the server says its model reads images (TGI's pipeline tag, llama.cpp's /props)
    pooling: str = ""  # TEI's embedding model: cls, mean, splade or last_token

    @property
    def label(self):
        return str(LABELS.get(self.engine, LABELS[UNKNOWN]))

    def describe(self):
        """One line for Test connection: engine, version, the model it serves."""
        parts = [self.label]
        if self.version:
            parts.append(_("version %(v)s") % {"v": self.version})
        if self.served_model:
            parts.append(_("serves %(m)s") % {"m": self.served_model})
        if self.context_length:
            parts.append(_("context %(n)s tokens") % {"n": self.context_length})
        if self.vision:
            parts.append(_("reads images"))
        return ", ".join(parts)


def from_info(info):
    """The engine a 200 `/info` body reveals, or None when it is neither TGI nor TEI."""
    if not isinstance(info, dict):
        return None
    if isinstance(info.get("model_type"), dict):
        # TEI says what its model is (§16.2): an embedding model, a reranker or a classifier; the task follows.
        kind = next(iter(info["model_type"]), "")
        task = {"embedding": "feature-extraction", "reranker": "text-ranking"}.get(kind, "text-classification")
        pooling = info["model_type"].get("embedding")
        pooling = pooling.get("pooling") if isinstance(pooling, dict) else ""
        return EngineInfo(
            TEI,
            str(info.get("model_id") or ""),
            str(info.get("version") or ""),
            _int(info.get("max_input_length")),
            task,
            pooling=str(pooling)[:20] if isinstance(pooling, str) else "",
        )
    if any(k in info for k in ("max_total_tokens", "max_input_tokens", "max_input_length")) or (
        info.get("router") == "text-generation-router"
    ):
        return EngineInfo(
            TGI,
            str(info.get("model_id") or ""),
            str(info.get("version") or ""),
            _int(info.get("max_total_tokens")),
            str(info.get("model_pipeline_tag") or ""),
            vision=info.get("model_pipeline_tag") == "image-text-to-text",  # a VLM: TGI reads image_url (§15.2)
        )
    return None


def from_models(body):
    """The engine a 200 `/v1/models` body reveals (any OpenAI-compatible list), or None."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    card = data[0]
    model_id = str(card.get("id") or "")
    owner = str(card.get("owned_by") or "")
    engine = _OWNERS.get(owner.lower())
    if engine is None:
        engine = TGI if owner == model_id and card.get("created") == 0 else OPENAI
    meta = card.get("meta") if isinstance(card.get("meta"), dict) else {}
    context = _int(card.get("max_model_len")) or _int(meta.get("n_ctx_train"))
    return EngineInfo(engine, model_id, "", context)


def served_context(body):
    """The context llama.cpp's `/props` says it serves (its `-c`/`--ctx-size`), or None. `/v1/models` only has
    the model's training context (`n_ctx_train`), which the server may cut: 4,096 trained, 2,048 served."""
    if not isinstance(body, dict):
        return None
    settings_ = body.get("default_generation_settings")
    served = settings_.get("n_ctx") if isinstance(settings_, dict) else None
    return _int(served) or _int(body.get("n_ctx"))


def version_from(engine, body):
    """The version a confirmer route reports (vLLM /version, SGLang /get_server_info, llama.cpp /props)."""
    if not isinstance(body, dict):
        return ""
    if engine == LLAMACPP:
        return str(body.get("build_info") or "")
    return str(body.get("version") or "")


VERSION_ROUTES = {VLLM: "/version", SGLANG: "/get_server_info", LLAMACPP: "/props"}


def _int(value):
    return numbers.count(value) or None  # a context of 0 tokens says nothing


def endpoint_info(base_url, token=None, deadline=None, headers=None):
    """TGI's /info when the server has it; None for servers without it."""
    try:
        response = transport.call(
            "GET", urls.join(base_url, "/info"), "endpoint", token, headers=headers, deadline=deadline
        )
    except HFError as exc:
        if exc.category in ("endpoint_not_found", "input_rejected", "upstream_error"):
            return None
        raise
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _optional_json(url, token, deadline, headers):
    """GET a route that some servers lack: the JSON body, or None when it is missing or not JSON."""
    try:
        response = transport.call("GET", url, "endpoint", token, headers=headers, deadline=deadline)
    except HFError as exc:
        if exc.category in ("endpoint_not_found", "input_rejected", "upstream_error", "model_not_found"):
            return None
        raise
    try:
        return response.json()
    except ValueError:
        return None


def identify_engine(base_url, token=None, deadline=None, headers=None, with_version=False):
    """Which server answers at base_url, in two requests (`/info`, then `/v1/models`); §10.1.

    with_version adds one request to the engine's own version route when the first two did not name it; for
    llama.cpp always, as its `/props` also says the context it serves.
    """
    base = base_url.rstrip("/")
    found = from_info(endpoint_info(base, token, deadline, headers))
    if found is None:
        found = from_models(_optional_json(urls.join(base, "/v1/models"), token, deadline, headers))
    if found is None:
        return EngineInfo(UNKNOWN)
    route = VERSION_ROUTES.get(found.engine)
    if with_version and found.engine == LLAMACPP:
        try:
            props = _optional_json(urls.join(base, route), token, deadline, headers)
        except HFError:
            props = None  # the context then stays the training one; the engine is known
        found.context_length = served_context(props) or found.context_length
        found.version = found.version or version_from(found.engine, props)
        modalities = props.get("modalities") if isinstance(props, dict) else None
        found.vision = isinstance(modalities, dict) and modalities.get("vision") is True  # started with --mmproj
    elif with_version and route and not found.version:
        try:
            found.version = version_from(found.engine, _optional_json(urls.join(base, route), token, deadline, headers))
        except HFError:
            pass  # the version is a detail; the engine is known
    return found


def generation_settings(base_url, token=None, deadline=None, headers=None):
    """What llama.cpp's server applies to a request that leaves a sampling parameter out: `/props`
    `default_generation_settings.params` (§10.5); None when the route or the object is missing."""
    props = _optional_json(urls.join(base_url.rstrip("/"), "/props"), token, deadline, headers)
    settings_ = props.get("default_generation_settings") if isinstance(props, dict) else None
    params = settings_.get("params") if isinstance(settings_, dict) else None
    return params if isinstance(params, dict) else None
