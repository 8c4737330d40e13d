"""Embeddings and rerank scores, from request to answer: bounded inputs, batches split to the upstream's own limit
and joined back in order, the adapter for the target's protocol speaking its dialect (hf-protocol.md §10.6, §11,
§16)."""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface import provider_routes
from providers.huggingface.adapters import vector_adapter_for
from providers.huggingface.errors import HFError
from providers.huggingface.transport import Deadline, call, json_of

# TEI over its max_client_batch_size (§10.6): 422 "batch size 64 > maximum allowed batch size 32".
_BATCH_LIMIT = re.compile(r"batch size \d+ > maximum allowed batch size (\d+)")


@dataclass
class Vectors:
    vectors: list
    prompt_tokens: int | None = None  # as the server reported it (summed over batches), None when any did not
    batches: int = 1
    server: dict = field(default_factory=dict)
    raw: list | None = None  # each vector's JSON text as the server wrote it (adapter.raw_vectors), or None
    passed: bytes | None = None  # the whole answer as the server wrote it, in the caller's encoding (passed_on)
    lengths: list | None = None  # each passed vector's length (float ones only when dimensions were asked for)


@dataclass
class Ranking:
    results: list  # [(document index, relevance score)], best first
    prompt_tokens: int | None = None


def _post(target, url, body, deadline):
    """(the parsed answer, its bytes)."""
    response = call("POST", url, target.kind, target.token, body, target.headers(), deadline)
    return json_of(response), response.content


def embed(target, texts, dimensions=None, deadline=None, encoding="float", model_id=None):
    """One vector per text, in the texts' order. Raises HFError.

    With `model_id` (an API call), an OpenAI-compatible server's answer in the caller's `encoding` that needs
    nothing rewritten but its model name comes back as it was written (Vectors.passed), unparsed."""
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    if target.endpoint_type == "inference_providers" and not target.provider:
        target = provider_routes.resolve(target, deadline)
    adapter = vector_adapter_for(target)
    batch = len(texts) or 1
    if model_id is not None and hasattr(adapter, "passed_on"):
        try:
            return _whole_answer(adapter, target, texts, dimensions, deadline, encoding, model_id)
        except HFError as exc:
            if encoding == "float" or exc.category != "input_rejected" or _BATCH_LIMIT.search(exc.message or ""):
                batch = _smaller(exc, batch)
            # else perhaps a server that takes no base64: asked again below in floats, which the console encodes
    while True:
        try:
            return _embed_in_batches(adapter, target, texts, dimensions, deadline, batch)
        except HFError as exc:
            batch = _smaller(exc, batch)


def _smaller(exc, batch):
    """The upstream's own batch limit when `exc` says it (split to it and ask again); else `exc` is raised."""
    limit = _BATCH_LIMIT.search(exc.message or "") if exc.category == "input_rejected" else None
    if limit is None or int(limit.group(1)) >= batch or int(limit.group(1)) < 1:
        raise exc
    return int(limit.group(1))


def _whole_answer(adapter, target, texts, dimensions, deadline, encoding, model_id):
    url, body = adapter.embed_request(target, texts, dimensions, encoding)
    response = call("POST", url, target.kind, target.token, body, target.headers(), deadline)
    passed = adapter.passed_on(response.content, texts, encoding, model_id, dimensions)
    if passed is not None:
        return Vectors([], passed[1], passed=passed[0], lengths=passed[2])
    return _read(adapter, texts, json_of(response), response.content)


def _read(adapter, texts, answer, content):
    """One answer of all `texts` read: a batch's, or the pass-through's fallback."""
    found, counted = adapter.read_embeddings(answer)
    if len(found) != len(texts):
        raise HFError(
            "bad_response",
            _("The server answered %(got)s vectors for %(sent)s texts.") % {"got": len(found), "sent": len(texts)},
        )
    return Vectors(found, counted, raw=adapter.raw_vectors(answer, content))


def _embed_in_batches(adapter, target, texts, dimensions, deadline, size):
    vectors, tokens, batches, raw = [], 0, 0, []
    for start in range(0, len(texts), size):
        part = texts[start : start + size]
        url, body = adapter.embed_request(target, part, dimensions)
        found = _read(adapter, part, *_post(target, url, body, deadline))
        vectors += found.vectors
        counted = found.prompt_tokens
        tokens = tokens + counted if tokens is not None and counted is not None else None
        batches += 1
        raw = raw + found.raw if raw is not None and found.raw is not None else None
    return Vectors(vectors, tokens, batches, raw=raw)


def rerank(target, query, documents, deadline=None):
    """[(index, score)] of every document, best first. Raises HFError."""
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    adapter = vector_adapter_for(target)
    url, body = adapter.rerank_request(target, query, documents)
    results, tokens = adapter.read_rerank(_post(target, url, body, deadline)[0])
    if sorted(index for index, _score in results) != list(range(len(documents))):
        raise HFError("bad_response", _("The rerank answer does not score each document once."))
    return Ranking(results, tokens)
