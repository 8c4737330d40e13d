"""The hosted task pipelines at `{router}/hf-inference/models/<repo>` (hf-protocol.md §1): TGI's `inputs`/
`parameters` body without `details` (transformers pipelines refuse it), answered as TGI answers, or by a pipeline
whose unused generation kwargs are dropped on one retry and whose summary or translation is the wrong task."""

from urllib.parse import quote

from django.conf import settings

from providers.huggingface import transport
from providers.huggingface.adapters import base, tgi

CAPABILITIES = base.Capabilities(
    completion=True,
    streaming=True,
    # A TGI-backed model and a transformers pipeline answer at the same URL: TGI's ranges, the stricter of the two
    # (a pipeline refuses temperature 0 with sampling too).
    parameters=base.parameters(tgi.TEXT_PARAMETERS, tgi.RANGES),
)


def models_url(repo_id):
    return transport.join(settings.HF_ROUTER_URL, f"/hf-inference/models/{quote(repo_id, safe='/')}")


class Adapter(tgi.Adapter):
    details = False

    def capabilities(self, target):
        return CAPABILITIES

    def url(self, target):
        return models_url(target.repo_id)


ADAPTER = Adapter()
