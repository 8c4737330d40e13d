"""text-embeddings-inference (hf-protocol.md §10.6, §16.2): embeddings and rerank, no text generation; a
generation request is refused before anything is sent."""

from django.utils.translation import gettext as _

from providers.huggingface.adapters import base
from providers.huggingface.errors import HFError

CAPABILITIES = base.Capabilities(embeddings=True, rerank=True)


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


ADAPTER = Adapter()
