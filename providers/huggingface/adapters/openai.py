"""The OpenAI-compatible protocol: `/v1/chat/completions` and `/v1/completions` bodies with the parameter names each
server accepts, and `choices`, deltas, `usage` and `[DONE]` in its answers. Spoken by the router, vLLM, SGLang,
llama.cpp, any other such server, TGI's Messages API and hf-inference's chat route (hf-protocol.md §2, §3.5, §10)."""

import base64
import json
import re
import struct

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.huggingface import engines, provider_routes, urls
from providers.huggingface.adapters import base, fields, hf_inference
from providers.huggingface.adapters.base import (
    Finish,
    Range,
    StreamState,
    count,
    finish_name,
    not_an_object,
    stream_error,
    usage_of,
)
from providers.huggingface.errors import HFError

# Chat on TGI's Messages API, the router and hf-inference's chat route.
CHAT_PARAMETERS = {
    "max_new_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop_sequences": "stop",
    "seed": "seed",
}
CHAT_RANGES = {"temperature": Range(low=0, high=2), "top_p": Range(low=0, high=1, low_open=True)}
# Playground parameter -> the name each OpenAI-compatible engine accepts on /v1/completions and chat.
_OPENAI_COMMON = {"max_new_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "seed": "seed"}
PARAMETERS = {
    engines.VLLM: {
        **_OPENAI_COMMON,
        "stop_sequences": "stop",
        "top_k": "top_k",
        "repetition_penalty": "repetition_penalty",
    },
    engines.SGLANG: {
        **_OPENAI_COMMON,
        "stop_sequences": "stop",
        "top_k": "top_k",
        "repetition_penalty": "repetition_penalty",
    },
    engines.LLAMACPP: {
        **_OPENAI_COMMON,
        "stop_sequences": "stop",
        "top_k": "top_k",
        "repetition_penalty": "repeat_penalty",
    },
    engines.OPENAI: {**_OPENAI_COMMON, "stop_sequences": "stop"},
}
DEFAULT_COMPLETION_TOKENS = 256
# What an answer passed on unparsed is checked by: the items' indexes in order, each vector an array of JSON numbers
# only (no NaN or Infinity, which Python's json would take) or a base64 string of whole float32s, the model named
# once at the top level (the items hold no "model"), the prompt's tokens.
_INDEX = re.compile(rb'"index"\s*:\s*(\d+)')
_IDENTITY = bytes(range(256))
_NUMBER_BYTES = b"0123456789.-+eE, \n\t\r"  # deleted by bytes.translate, ten times faster than a regex here
_EMBEDDING_NAME = b'"embedding"'
_VALUE_START = re.compile(rb"\s*:\s*")
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_MODEL = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')
_PROMPT_TOKENS = re.compile(rb'"prompt_tokens"\s*:\s*(\d+)')
_EMPTY_ARRAY = re.compile(rb"\[\s*\]")

_ENGINE = {"chat": True, "completion": True, "streaming": True}
_TOOLS = {"tools": True, "structured_output": True, "image_input": True}  # §13-§15, with a model that can
_SHARED = fields.PENALTIES | {"logit_bias", "user"}
_CHAT_MORE = fields.TOOLS | {"response_format", "logprobs", "top_logprobs"}
# Engine parameters beyond OpenAI's that each server reads (passed as sent; the console's top_k and
# repetition_penalty among them).
VLLM_EXTRAS = frozenset(
    {"top_k", "min_p", "repetition_penalty", "min_tokens", "ignore_eos", "skip_special_tokens"}
    | {"spaces_between_special_tokens", "include_stop_str_in_output", "stop_token_ids", "chat_template"}
    | {"chat_template_kwargs", "add_generation_prompt", "continue_final_message", "documents"}
    | {"structured_outputs", "length_penalty", "truncate_prompt_tokens", "prompt_logprobs", "bad_words"}
    | {"allowed_token_ids", "mm_processor_kwargs", "priority", "add_special_tokens", "echo"}
)
SGLANG_EXTRAS = frozenset(
    {"top_k", "min_p", "repetition_penalty", "min_tokens", "ignore_eos", "skip_special_tokens", "regex", "ebnf"}
    | {"stop_token_ids", "no_stop_trim", "chat_template_kwargs", "separate_reasoning", "stream_reasoning"}
    | {"continue_final_message", "lora_path"}
)
LLAMACPP_EXTRAS = frozenset(
    {"top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n", "repetition_penalty", "mirostat"}
    | {"mirostat_tau", "mirostat_eta", "grammar", "json_schema", "n_probs", "min_keep", "cache_prompt"}
    | {"samplers", "dynatemp_range", "dynatemp_exponent", "dry_multiplier", "dry_base", "dry_allowed_length"}
    | {"dry_penalty_last_n", "dry_sequence_breakers", "xtc_probability", "xtc_threshold", "top_n_sigma"}
    | {"ignore_eos", "chat_template_kwargs", "reasoning_format", "n_keep", "id_slot"}
)


def _engine(engine, chat_more, completion_more, extras=frozenset(), **flags):
    return base.Capabilities(
        **_ENGINE,
        **flags,
        parameters=base.parameters(PARAMETERS[engine]),
        chat_fields=fields.BASIC_CHAT | chat_more | extras,
        completion_fields=fields.BASIC_COMPLETION | completion_more | extras,
        openai_answers=True,
        label=engines.LABELS[engine],
    )


CAPABILITIES = {
    engines.VLLM: _engine(
        engines.VLLM,
        _SHARED | _CHAT_MORE | {"n"},
        _SHARED | {"logprobs", "n"},
        VLLM_EXTRAS,
        **_TOOLS,
        logprobs=True,
        n=True,
    ),
    engines.SGLANG: _engine(
        engines.SGLANG,
        _SHARED | _CHAT_MORE | {"n"},
        _SHARED | {"logprobs", "n", "echo"},
        SGLANG_EXTRAS,
        **_TOOLS,
        logprobs=True,
        n=True,
    ),
    # llama.cpp answers one choice only ("Only one completion choice is allowed").
    engines.LLAMACPP: _engine(
        engines.LLAMACPP, _SHARED | _CHAT_MORE, _SHARED | {"logprobs"}, LLAMACPP_EXTRAS, **_TOOLS, logprobs=True
    ),
    # A server not known by name: what every OpenAI-compatible server answers, no more.
    engines.OPENAI: _engine(engines.OPENAI, fields.PENALTIES, fields.PENALTIES),
}
# TGI's ChatRequest (§13.2, §14.2): tools and response_format in its own dialect (openai_relay translates), no
# `n` (the field is there, unused) and no OpenAI logit_bias (TGI's is a list).
TGI_CHAT = base.Capabilities(
    chat=True,
    streaming=True,
    **_TOOLS,
    logprobs=True,
    parameters=base.parameters(CHAT_PARAMETERS, CHAT_RANGES),
    chat_fields=fields.BASIC_CHAT | fields.PENALTIES | _CHAT_MORE | {"tool_prompt"},
    label=engines.LABELS[engines.TGI],
)
# Per provider and model (`supports_tools`, `supports_structured_output` in the router's list): forwarded, and
# a provider that cannot answers its own error. `n` is not portable across providers (§2).
ROUTER = base.Capabilities(
    chat=True,
    streaming=True,
    **_TOOLS,
    logprobs=True,
    parameters=base.parameters(CHAT_PARAMETERS, CHAT_RANGES),
    chat_fields=fields.BASIC_CHAT | _SHARED | _CHAT_MORE,
    openai_answers=True,
    label=gettext_lazy("The Inference Providers router"),
)
HF_INFERENCE_CHAT = base.Capabilities(
    chat=True,
    streaming=True,
    parameters=base.parameters(CHAT_PARAMETERS, CHAT_RANGES),
    chat_fields=fields.BASIC_CHAT,
    label=gettext_lazy("The hf-inference provider"),
)


class ChoiceStream(StreamState):
    """Chat deltas or completion texts per choice; usage in any event; [DONE] (which the SSE parser reads) last."""

    def __init__(self, target):
        super().__init__(target)
        self.chat = target.task == "chat"

    def event(self, event):
        if not isinstance(event, dict):
            raise not_an_object()
        if event.get("error"):
            raise stream_error(event)
        texts = []
        usage = usage_of(event)
        if count(usage.get("completion_tokens")) is not None:
            self.tokens = count(usage["completion_tokens"])
        if count(usage.get("prompt_tokens")) is not None:
            self.prompt_tokens = count(usage["prompt_tokens"])
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            if self.chat:
                delta = choice.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
            else:
                text = choice.get("text")
            if isinstance(text, str) and text:
                texts.append(text)
            if choice.get("finish_reason"):
                self.finish_reason = finish_name(choice["finish_reason"])
                self.finished = True
        return texts


class Adapter(base.Adapter):
    def capabilities(self, target):
        if target.endpoint_type == "inference_endpoint":
            return CAPABILITIES.get(target.engine, TGI_CHAT)
        return ROUTER if target.endpoint_type == "inference_providers" else HF_INFERENCE_CHAT

    def url(self, target):
        if target.endpoint_type == "inference_endpoint":
            route = "/v1/chat/completions" if target.task == "chat" else "/v1/completions"
            return urls.join(target.endpoint_url, route)
        if target.endpoint_type == "inference_providers":
            return urls.join(settings.HF_ROUTER_URL, "/v1/chat/completions")
        return urls.join(hf_inference.models_url(target.repo_id), "/v1/chat/completions")

    def body(self, target, params, prompt="", messages=None, stream=False):
        if target.openai_style:
            return self._engine_body(target, params, prompt, messages, stream)
        mapped = {CHAT_PARAMETERS[k]: v for k, v in params.items() if k in CHAT_PARAMETERS and v not in (None, "", [])}
        if params.get("do_sample") is False:
            mapped["temperature"] = 0  # greedy: TGI's Messages API and the router read temperature 0 so
            mapped.pop("top_p", None)
        body = {"model": target.repo_id or "tgi", "messages": messages or [], **mapped, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _engine_body(self, target, params, prompt, messages, stream):
        """The body of /v1/completions or /v1/chat/completions, with the parameters this engine accepts."""
        names = PARAMETERS[target.engine]
        mapped = {names[k]: v for k, v in params.items() if k in names and v not in (None, "", [])}
        if params.get("do_sample") is False and "temperature" not in mapped:
            mapped["temperature"] = 0  # sampling off: these servers decode greedily at temperature 0, not by default
        model = target.served_model or target.repo_id or "default"
        if target.task == "chat":
            body = {"model": model, "messages": messages or [], **mapped, "stream": stream}
        else:
            # vLLM's /v1/completions stops at 16 tokens when max_tokens is absent; TGI would go on much further.
            mapped.setdefault("max_tokens", DEFAULT_COMPLETION_TOKENS)
            body = {"model": model, "prompt": prompt, **mapped, "stream": stream}
            if params.get("return_full_text"):
                body["echo"] = True
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def parse_whole(self, body, target, server, response):
        if target.task != "chat":
            try:
                choice = body["choices"][0]
                text = choice.get("text") or ""
            except (KeyError, IndexError, TypeError, AttributeError):
                raise HFError("bad_response", _("The completion answer has no choices[0].text.")) from None
            usage = usage_of(body)
            return Finish(
                text,
                finish_name(choice.get("finish_reason")),
                count(usage.get("completion_tokens")),
                server,
                count(usage.get("prompt_tokens")),
            )
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise HFError("bad_response", _("The chat answer has no choices[0].message.")) from None
        usage = usage_of(body)
        reason = finish_name(choice.get("finish_reason"))
        return Finish(text, reason, count(usage.get("completion_tokens")), server, count(usage.get("prompt_tokens")))

    def stream_state(self, target):
        return ChoiceStream(target)

    # §16.1, §16.4-§16.6: /v1/embeddings in OpenAI's shape (vLLM, llama.cpp --embeddings, TEI's OpenAI route, any
    # such server, an Inference Provider's route through the router); /v1/rerank in the Jina/Cohere shape (vLLM,
    # llama.cpp --reranking).
    def embed_request(self, target, texts, dimensions=None, encoding="float"):
        route = provider_routes.OPENAI_ROUTES.get(target.provider)
        if target.endpoint_type == "inference_providers" and route:
            url = urls.join(settings.HF_ROUTER_URL, route)  # the provider's id of the model goes in the body
        elif target.endpoint_type == "inference_endpoint":
            url = target.endpoint_url.rstrip("/") + "/v1/embeddings"
        else:
            raise base.cannot_compute("embeddings")
        # The caller's encoding: an answer in it can be passed on as it came (passed_on); a server that ignores
        # the field answers floats, which the console then encodes itself.
        model = target.served_model or target.repo_id or "default"
        body = {"model": model, "input": texts, "encoding_format": encoding}
        if dimensions:
            body["dimensions"] = dimensions
        return url, body

    def read_embeddings(self, body):
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(d, dict) and isinstance(d.get("index"), int) for d in data):
            raise HFError("bad_response", _("The embeddings answer has no data list."))
        ordered = sorted(data, key=lambda d: d["index"])
        found = [_floats(d.get("embedding")) for d in ordered]
        return base.vectors(found), count(usage_of(body).get("prompt_tokens"))

    def passed_on(self, content, texts, encoding, model_id, dimensions=None):
        """(the answer's bytes with `model` the console's id, the prompt tokens, each vector's length) when the
        server answered in the asked encoding, in order, one vector per text, with nothing to rewrite but the model
        name; else None (the answer is then read and written again). Parsing and printing 64 vectors of 384
        numbers cost several times what the rest of the call does. Float vectors are counted only when the
        caller asked for `dimensions` (counting is another pass over every number); else their lengths are None.

        The vectors are found with bytes.find and checked with bytes.translate; every other check reads only the
        text around them (the items' other fields, the model, the usage: a few hundred bytes, not the whole
        answer). A vector, once checked, holds no quote, so it can hide no index and no model name."""
        vectors = _vector_spans(content, encoding)
        if vectors is None or len(vectors) != len(texts) or not content.lstrip().startswith(b"{"):
            return None
        edges = [0, *(edge for span in vectors for edge in span), len(content)]
        gaps = [content[edges[k] : edges[k + 1]] for k in range(0, len(edges), 2)]
        around = b"".join(gaps)
        if [int(i) for i in _INDEX.findall(around)] != list(range(len(texts))):
            return None
        if encoding == "base64":
            pads = [2 if content[end - 2 : end] == b"==" else int(content[end - 1 : end] == b"=") for _, end in vectors]
            # The base64 alphabet only in every vector, "=" only as its padding: nothing left once it is deleted.
            # Vector by vector (see the float check below).
            if any(
                content[start : end - pad].translate(_IDENTITY, _BASE64_BYTES)
                for (start, end), pad in zip(vectors, pads, strict=True)
            ):
                return None
            lengths = [(end - start) * 3 // 4 - pad for (start, end), pad in zip(vectors, pads, strict=True)]
            if any(n % 4 or not n for n in lengths):
                return None  # a length or an empty vector that is not what was asked for
            lengths = [n // 4 for n in lengths]
        else:
            # Numbers only in every vector (no NaN, Infinity, string, object or inner array): once its number bytes
            # are deleted (bytes.translate, ten times faster than a regex), a vector is its two brackets. Vector by
            # vector, not over the whole answer at once: translate makes its result as large as its input, and a
            # buffer of the whole answer's size (a third of a megabyte) comes as fresh pages from the system each
            # time, which cost more than the check itself.
            if any(content[start:end].translate(_IDENTITY, _NUMBER_BYTES) != b"[]" for start, end in vectors):
                return None
            if any(_EMPTY_ARRAY.match(content, start) for start, _end in vectors):
                return None  # an empty vector
            lengths = [content.count(b",", start, end) + 1 for start, end in vectors] if dimensions else None
        if len(_MODEL.findall(around)) != 1:
            return None  # the model named once, or the answer is read again
        # Before the first vector or after the last, where servers write it (elsewhere: read again).
        name = _MODEL.search(content, 0, edges[1]) or _MODEL.search(content, edges[-2])
        if name is None:
            return None
        start, end = name.span()
        whole = memoryview(content)  # the answer copied once, into the new one, not first into its two halves
        named = b"".join((whole[:start], b'"model": ', json.dumps(model_id).encode(), whole[end:]))
        tokens = _PROMPT_TOKENS.findall(around)
        return named, int(tokens[-1]) if tokens else None, lengths

    def raw_vectors(self, body, content):
        # Each data item's "embedding" array, in the answer's order: an array of numbers holds no "]", and a
        # '"embedding"' inside a JSON string would have its quotes escaped. Any doubt (a count that differs from
        # the parsed items): None.
        spans = _vector_spans(content, "float")
        data = body["data"]
        if spans is None or len(spans) != len(data):
            return None
        found = [content[start:end] for start, end in spans]
        return [raw for _index, raw in sorted(zip((d["index"] for d in data), found, strict=True))]

    def rerank_request(self, target, query, documents, top_n=None):
        if target.endpoint_type != "inference_endpoint":
            raise base.cannot_compute("rerank")
        body = {"model": target.served_model or target.repo_id or "default", "query": query, "documents": documents}
        return target.endpoint_url.rstrip("/") + "/v1/rerank", body

    def read_rerank(self, body):
        from providers.huggingface.adapters.tei import ranked  # the same reading, another score name

        results = body.get("results") if isinstance(body, dict) else None
        return ranked(results, "relevance_score"), count(usage_of(body).get("prompt_tokens"))


def _vector_spans(content, encoding):
    """Where each item's "embedding" value lies in `content`, in order: a float array with its brackets (an array
    of numbers holds no "]"), or a base64 string without its quotes. Found with bytes.find, several times faster
    than a pattern scanning the whole answer."""
    opening, closing, back = (b'"', b'"', 0) if encoding == "base64" else (b"[", b"]", 1)
    spans, at = [], content.find(_EMBEDDING_NAME)
    while at >= 0:
        value = _VALUE_START.match(content, at + len(_EMBEDDING_NAME))
        if value is None:  # not a name: "embedding" as a value ("object": "embedding")
            at = content.find(_EMBEDDING_NAME, at + 1)
            continue
        if content[value.end() : value.end() + 1] != opening:
            return None  # a value of another kind
        start = value.end() + 1 - back
        end = content.find(closing, value.end() + 1)
        if end < 0:
            return None
        spans.append((start, end + back))
        at = content.find(_EMBEDDING_NAME, end)
    return spans


def _floats(vector):
    """An embedding as numbers: a base64 string (what the console asked for, for a caller who did) decoded."""
    if not isinstance(vector, str):
        return vector
    try:
        raw = base64.b64decode(vector, validate=True)
    except ValueError:
        return None
    return list(struct.unpack(f"<{len(raw) // 4}f", raw)) if raw and len(raw) % 4 == 0 else None


ADAPTER = Adapter()
