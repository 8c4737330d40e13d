"""text-embeddings-inference (hf-protocol.md §10.6, §16.2): embeddings and rerank, no text generation; a
generation request is refused before anything is sent."""

import re

from django.utils.translation import gettext as _

from providers.huggingface.adapters import base
from providers.huggingface.errors import HFError

CAPABILITIES = base.Capabilities(embeddings=True, rerank=True)
_RAW_VECTOR = re.compile(rb"\[[^\[\]]*\]")


class Adapter(base.Adapter):
    def capabilities(self, target):
        return CAPABILITIES

    def check_generates(self, target):
        raise HFError(
            "not_text_generation_server",
            _("This endpoint runs text-embeddings-inference: it computes embeddings and does not generate text."),
        )

    def url(self, target):
        return target.endpoint_url.rstrip("/")

    def body(self, target, params, prompt="", messages=None, stream=False):
        self.check_generates(target)

    def parse_whole(self, body, target, server, response):
        self.check_generates(target)

    def stream_state(self, target):
        self.check_generates(target)

    # §10.6: /embed answers a list of float lists (also for one text); /rerank a list of {index, score}, best first.
    def embed_request(self, target, texts, dimensions=None):
        body = {"inputs": texts, "normalize": True}
        if dimensions:
            body["dimensions"] = dimensions
        return self.url(target) + "/embed", body

    def read_embeddings(self, body):
        return base.vectors(body), None  # TEI's native route reports no token count

    def raw_vectors(self, body, content):
        found = _RAW_VECTOR.findall(content)  # the innermost arrays of [[…],[…]], in order
        return found if len(found) == len(body) else None

    def rerank_request(self, target, query, documents, top_n=None):
        return self.url(target) + "/rerank", {"query": query, "texts": documents, "raw_scores": False}

    def read_rerank(self, body):
        return ranked(body, "score"), None


def ranked(items, score_key):
    """[(index, score)] best first from [{"index", score_key}], or HFError("bad_response")."""
    found = []
    for item in items if isinstance(items, list) else [None]:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get(score_key) if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(score, (int, float)):
            raise HFError("bad_response", _("The rerank answer has no index and score for each document."))
        found.append((index, float(score)))
    return sorted(found, key=lambda pair: -pair[1])


ADAPTER = Adapter()
