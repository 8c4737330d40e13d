"""`POST /v1/embeddings` in OpenAI's shape and `POST /v1/rerank` in the Cohere/Jina shape that rerank clients send
(hf-protocol.md §16.1, §16.7), with the console's keys, limits, accounting and errors; and huggingface_hub's
`feature_extraction` and `sentence_similarity` posted to `/v1/models/<id>` (§12.5)."""

import base64
import json
import math
import struct
import time
import uuid

from django.conf import settings
from django.utils.translation import gettext as _

from providers.api import catalog
from providers.api import openai_format as fmt
from providers.api.replies import RecordedResponse, bad_request, model_not_found, not_generative, upstream_failure
from providers.api.views import api_view
from providers.huggingface import embedding, transport
from providers.huggingface.errors import HFError
from providers.models import Task

EMBEDDING_FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
RERANK_FIELDS = {"model", "query", "documents", "top_n", "return_documents"}


def _refuse_unknown(body, known):
    unknown = sorted(set(body) - known)
    if unknown:
        raise fmt.BadRequest(
            _("%(name)s is not a field of this route; the console does not drop what it cannot carry.")
            % {"name": unknown[0]},
            param=unknown[0],
            code="unsupported_parameter",
        )


def _entry_for(body, task, generation, record):
    """The model's entry when it is configured for `task`; else (None, the refusal)."""
    name = body.get("model")
    try:
        entry = catalog.find(name, generation) if isinstance(name, str) else None
    except catalog.Ambiguous as exc:
        raise fmt.ambiguous(name, exc.ids) from None
    if entry is None:
        return None, model_not_found(name if isinstance(name, str) else "", record)
    record.entry = entry
    if entry.task != task:
        route = (
            "/v1/embeddings"
            if entry.task == Task.FEATURE_EXTRACTION
            else ("/v1/rerank" if entry.task == Task.TEXT_RANKING else "/v1/chat/completions or /v1/completions")
        )
        raise fmt.BadRequest(
            _("%(model)s is not configured for this task; send its requests to %(route)s.")
            % {"model": entry.api_id, "route": route},
            param="model",
            code="model_task_mismatch",
        )
    if entry.problem:
        raise HFError(entry.problem)
    return entry, None


def _texts(value):
    """The `input` as a list of texts (or token-id lists), bounded by the console's settings."""
    if isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(x, int) for x in value)):
        value = [value]
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(x, str)
            or (isinstance(x, list) and x and all(isinstance(t, int) and not isinstance(t, bool) for t in x))
            for x in value
        )
    )
    if not ok:
        raise fmt.BadRequest(
            _("input must be a text, a list of texts, or token ids."), param="input", code="invalid_input"
        )
    if len(value) > settings.API_EMBED_MAX_INPUTS:
        raise fmt.BadRequest(
            _("At most %(n)s inputs per call; send the rest in another call.") % {"n": settings.API_EMBED_MAX_INPUTS},
            param="input",
            code="too_many_inputs",
        )
    longest = max(len(x) for x in value)
    if longest > settings.API_EMBED_MAX_INPUT_CHARS:
        raise fmt.BadRequest(
            _("An input may have at most %(n)s characters or tokens.") % {"n": settings.API_EMBED_MAX_INPUT_CHARS},
            param="input",
            code="input_too_long",
        )
    if any(isinstance(x, str) and not x.strip() for x in value) or any(
        "\x00" in x for x in value if isinstance(x, str)
    ):
        raise fmt.BadRequest(_("An input is empty or holds a NUL character."), param="input", code="invalid_input")
    _check_total(value, "input")
    return value


def _check_total(texts, param):
    """At most API_EMBED_MAX_TOTAL_BYTES of UTF-8 text (a token id counts 4) in one call."""
    limit = settings.API_EMBED_MAX_TOTAL_BYTES
    if sum(len(x) for x in texts) * 4 <= limit:  # no text is longer than 4 bytes a character: nothing to encode
        return
    if sum(len(x.encode()) if isinstance(x, str) else 4 * len(x) for x in texts) > limit:
        raise fmt.BadRequest(
            _("At most %(n)s bytes of text per call, all inputs together; send the rest in another call.")
            % {"n": f"{limit:,}"},
            param=param,
            code="input_too_large",
        )


def _positive(body, name):
    """The body's `name`, a positive whole number, or None when absent."""
    value = body.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise fmt.BadRequest(
            _("%(name)s is a positive whole number.") % {"name": name}, param=name, code="invalid_value"
        )
    return value


def _ask(record, entry, ask):
    """(what `ask(target, deadline)` answers, None), or (None, the failure's answer): the target's engine is learnt
    first when it is not stored yet, as for generations."""
    try:
        deadline = transport.Deadline(settings.HF_GENERATION_TIMEOUT)
        return ask(catalog.target(entry, deadline), deadline), None
    except HFError as exc:
        return None, upstream_failure(exc, record)


def _encoded(vector, encoding):
    if encoding == "base64":  # little-endian float32, as OpenAI sends and openai-python decodes (§16.1)
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def _usage(tokens):
    return {"usage": {"prompt_tokens": tokens, "total_tokens": tokens}} if tokens is not None else {}


@api_view("embeddings", "POST")
def embeddings(request, caller, record, generation):
    try:
        body = fmt.parse_body(request.body)
        _refuse_unknown(body, EMBEDDING_FIELDS)
        entry, refusal = _entry_for(body, Task.FEATURE_EXTRACTION, generation, record)
        if refusal is not None:
            return refusal
        texts = _texts(body.get("input"))
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise fmt.BadRequest(
                _("encoding_format is float or base64."), param="encoding_format", code="invalid_encoding_format"
            )
        dimensions = _positive(body, "dimensions")
        if dimensions and entry.target.endpoint_type == "hosted_api":
            raise fmt.BadRequest(
                _("This model's server cannot shorten its vectors (dimensions)."),
                param="dimensions",
                code="unsupported_parameter",
            )
        if entry.target.endpoint_type == "hosted_api" and any(not isinstance(x, str) for x in texts):
            raise fmt.BadRequest(
                _("This model's server takes texts, not token ids."), param="input", code="unsupported_parameter"
            )
    except fmt.BadRequest as exc:
        return bad_request(exc, record)
    except HFError as exc:
        return upstream_failure(exc, record)
    found, failure = _ask(
        record,
        entry,
        lambda target, deadline: embedding.embed(target, texts, dimensions, deadline, encoding, entry.api_id),
    )
    if failure is not None:
        return failure
    if dimensions and any(n != dimensions for n in found.lengths or map(len, found.vectors)):
        return upstream_failure(
            HFError("bad_response", _("The server did not shorten its vectors to %(n)s.") % {"n": dimensions}), record
        )
    record.prompt_tokens = found.prompt_tokens
    record.finish(time.perf_counter())
    if found.passed is not None:
        return _written(found.passed, record)
    if encoding == "float" and found.raw is not None:
        return _written_as_sent(found, entry, record)
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(vector, encoding)}
        for i, vector in enumerate(found.vectors)
    ]
    return RecordedResponse(
        {"object": "list", "data": data, "model": entry.api_id, **_usage(found.prompt_tokens)}, record
    )


def _written_as_sent(found, entry, record):
    """The float answer with each vector's JSON text as the server wrote it (checked when it was read): printing
    64 vectors of 384 numbers again cost more than all the rest of the call (about 8 ms, float repr)."""
    tail = json.dumps({"model": entry.api_id, **_usage(found.prompt_tokens)})[1:]
    body = b"".join(
        (
            b'{"object": "list", "data": [',
            b", ".join(
                b'{"object": "embedding", "index": %d, "embedding": %s}' % (i, raw) for i, raw in enumerate(found.raw)
            ),
            b"], ",
            tail.encode(),
        )
    )
    return _written(body, record)


def _written(content, record):
    """A JSON answer whose bytes are already written (not dumped again from Python values)."""
    response = RecordedResponse({}, record)
    response.content = content
    return response


def _documents(value):
    docs = value if isinstance(value, list) else None
    texts = [d if isinstance(d, str) else (d.get("text") if isinstance(d, dict) else None) for d in docs or [None]]
    if not docs or not all(isinstance(t, str) and t.strip() for t in texts):
        raise fmt.BadRequest(
            _("documents must be a list of texts (or objects with a text)."),
            param="documents",
            code="invalid_documents",
        )
    if len(texts) > settings.API_EMBED_MAX_INPUTS or max(len(t) for t in texts) > settings.API_EMBED_MAX_INPUT_CHARS:
        raise fmt.BadRequest(
            _("At most %(n)s documents of at most %(c)s characters each.")
            % {"n": settings.API_EMBED_MAX_INPUTS, "c": settings.API_EMBED_MAX_INPUT_CHARS},
            param="documents",
            code="too_many_inputs",
        )
    return texts


@api_view("rerank", "POST")
def rerank(request, caller, record, generation):
    try:
        body = fmt.parse_body(request.body)
        _refuse_unknown(body, RERANK_FIELDS)
        entry, refusal = _entry_for(body, Task.TEXT_RANKING, generation, record)
        if refusal is not None:
            return refusal
        query = body.get("query")
        if not isinstance(query, str) or not query.strip() or len(query) > settings.API_EMBED_MAX_INPUT_CHARS:
            raise fmt.BadRequest(_("query must be a non-empty text."), param="query", code="invalid_query")
        texts = _documents(body.get("documents"))
        _check_total([query, *texts], "documents")
        top_n = _positive(body, "top_n")
        with_documents = body.get("return_documents", False)
        if not isinstance(with_documents, bool):
            raise fmt.BadRequest(_("return_documents is true or false."), param="return_documents")
    except fmt.BadRequest as exc:
        return bad_request(exc, record)
    except HFError as exc:
        return upstream_failure(exc, record)
    ranking, failure = _ask(record, entry, lambda target, deadline: embedding.rerank(target, query, texts, deadline))
    if failure is not None:
        return failure
    record.prompt_tokens = ranking.prompt_tokens
    record.finish(time.perf_counter())
    results = [
        {"index": index, "relevance_score": score, **({"document": {"text": texts[index]}} if with_documents else {})}
        for index, score in ranking.results[: top_n or None]
    ]
    answer = {
        "id": "rerank-" + uuid.uuid4().hex[:24],
        "model": entry.api_id,
        "results": results,
        **_usage(ranking.prompt_tokens),
    }
    return RecordedResponse(answer, record)


HUB_FIELDS = {"inputs", "normalize", "parameters"}


def hub_task(entry, request, record):
    """huggingface_hub's `feature_extraction` (`{"inputs": text or texts}`: TEI's answer, one vector per text) or
    `sentence_similarity` (`{"inputs": {"source_sentence", "sentences"}}`: one cosine similarity per sentence, in
    their order) posted to `/v1/models/<id>` of an embedding model (§11.2, §11.3, §12.5)."""
    record.route, record.entry = "embeddings", entry
    try:
        if entry.task != Task.FEATURE_EXTRACTION:
            raise not_generative(entry)  # a reranker: huggingface_hub has no call for it here (§16.3)
        body = fmt.parse_body(request.body)
        _refuse_unknown(body, HUB_FIELDS)
        if body.get("normalize") is False or body.get("parameters"):
            name = "normalize" if body.get("normalize") is False else "parameters"
            raise fmt.BadRequest(
                _("%(name)s is not a field of this route; the console does not drop what it cannot carry.")
                % {"name": name},
                param=name,
                code="unsupported_parameter",
            )
        inputs = body.get("inputs")
        pair = isinstance(inputs, dict)
        if pair:
            source, sentences = inputs.get("source_sentence"), inputs.get("sentences")
            if (
                not isinstance(source, str)
                or not isinstance(sentences, list)
                or set(inputs) - {"source_sentence", "sentences"}
            ):
                raise fmt.BadRequest(
                    _("inputs must hold source_sentence (a text) and sentences (a list of texts)."),
                    param="inputs",
                    code="invalid_input",
                )
            texts = _texts([source, *sentences])
        else:
            texts = _texts(inputs)
        if entry.problem:
            raise HFError(entry.problem)
    except fmt.BadRequest as exc:
        return bad_request(exc, record)
    except HFError as exc:
        return upstream_failure(exc, record)
    found, failure = _ask(record, entry, lambda target, deadline: embedding.embed(target, texts, None, deadline))
    if failure is not None:
        return failure
    record.prompt_tokens = found.prompt_tokens
    record.finish(time.perf_counter())
    if pair:
        source, *others = found.vectors
        return RecordedResponse([_cosine(source, v) for v in others], record, safe=False)
    return RecordedResponse(found.vectors, record, safe=False)


def _cosine(a, b):
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0
