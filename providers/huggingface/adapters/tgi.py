"""TGI's native protocol: `POST /` with `inputs`/`parameters` (`details: true` for the finish reason and token
count), a list of `generated_text` answers, one event per token (hf-protocol.md §3). Also the shape of an
endpoint whose engine was not identified, which may run transformers pipelines (the inference toolkit)."""

import re

from django.utils.translation import gettext as _

from providers.huggingface.adapters import base
from providers.huggingface.adapters.base import (
    Finish,
    Range,
    StreamState,
    count,
    finish_name,
    not_an_object,
    stream_error,
)
from providers.huggingface.errors import HFError

TEXT_PARAMETERS = {
    "max_new_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repetition_penalty",
    "stop_sequences": "stop",
    "seed": "seed",
    "do_sample": "do_sample",
    "return_full_text": "return_full_text",
}
# TGI's own validation (router/src/validation.rs, §3.2): 0 is refused where OpenAI servers read it as greedy.
RANGES = {
    "max_new_tokens": Range(low=0, low_open=True),
    "temperature": Range(low=0, low_open=True),
    "top_p": Range(low=0, high=1, low_open=True, high_open=True),
    "top_k": Range(low=0, low_open=True),
    "repetition_penalty": Range(low=0, low_open=True),
}
CAPABILITIES = base.Capabilities(
    completion=True,
    streaming=True,
    structured_output=True,  # parameters.grammar (tools and chat are the Messages API's: adapters/openai.py)
    logprobs=True,  # details.tokens[].logprob, top_n_tokens
    parameters=base.parameters(TEXT_PARAMETERS, RANGES),
)
_MODEL_KWARGS_RE = re.compile(r"The following `model_kwargs` are not used by the model: \[(.*?)\]")


class TokenStream(StreamState):
    """TGI's token events: the text of each token; the last event carries generated_text and details."""

    def __init__(self, target):
        super().__init__(target)
        self.last_index = None

    def event(self, event):
        if not isinstance(event, dict):
            raise not_an_object()
        if event.get("error"):
            raise stream_error(event)
        texts = []
        token = event.get("token")
        token = token if isinstance(token, dict) else {}
        if count(event.get("index")) is not None:
            self.last_index = count(event["index"])  # TGI numbers its token events from 1: the server's own count
        if isinstance(token.get("text"), str) and token["text"] and not token.get("special"):
            texts.append(token["text"])
        details = event.get("details")
        details = details if isinstance(details, dict) else {}
        if details.get("finish_reason"):
            self.finish_reason = finish_name(details["finish_reason"])
        if count(details.get("generated_tokens")) is not None:
            self.tokens = count(details["generated_tokens"])
        if count(details.get("input_length")) is not None:
            self.prompt_tokens = count(details["input_length"])  # the last event's, with details (§3.4)
        if event.get("generated_text") is not None or event.get("details"):
            self.complete = True
            if self.tokens is None:
                self.tokens = self.last_index
        return texts


class Adapter(base.Adapter):
    details = True  # TGI then reports finish reason and token count

    def capabilities(self, target):
        return CAPABILITIES

    def url(self, target):
        return target.endpoint_url.rstrip("/")

    def body(self, target, params, prompt="", messages=None, stream=False):
        mapped = {TEXT_PARAMETERS[k]: v for k, v in params.items() if k in TEXT_PARAMETERS and v not in (None, "", [])}
        if self.details:
            mapped.setdefault("details", True)
        body = {"inputs": prompt, "parameters": mapped}
        if stream:
            body["stream"] = True
        return body

    def parse_whole(self, body, target, server, response):
        item = body[0] if isinstance(body, list) and body else body
        if not isinstance(item, dict) or "generated_text" not in item:
            if isinstance(item, dict) and ("summary_text" in item or "translation_text" in item):
                raise HFError("wrong_task", _("The model answered as a summarization or translation model."))
            raise HFError("bad_response", _("The answer has no generated_text."))
        details = item.get("details") or {}
        tokens = count(details.get("generated_tokens"))
        if tokens is None:
            tokens = _header_int(response, "x-generated-tokens")
        prompt = _header_int(response, "x-prompt-tokens")
        return Finish(
            item.get("generated_text") or "", finish_name(details.get("finish_reason")), tokens, server, prompt
        )

    def stream_state(self, target):
        return TokenStream(target)

    def retry_body(self, exc, target, body):
        dropped = _MODEL_KWARGS_RE.search(exc.message) if exc.category == "input_rejected" else None
        if not dropped:
            return None
        # transformers pipelines (not TGI) refuse generation kwargs they do not know: drop those, once.
        unused = {name.strip().strip("'\"") for name in dropped.group(1).split(",")}
        body["parameters"] = {k: v for k, v in body["parameters"].items() if k not in unused}
        return body


def _header_int(response, name):
    try:
        return count(int(response.headers.get(name, "")))
    except ValueError:
        return None


ADAPTER = Adapter()
