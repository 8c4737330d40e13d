"""The hosted task pipelines at `{router}/hf-inference/models/<repo>` (hf-protocol.md §1): TGI's `inputs`/
`parameters` body without `details` (transformers pipelines refuse it), answered as TGI answers, or by a pipeline
whose unused generation kwargs are dropped on one retry and whose summary or translation is the wrong task."""

from urllib.parse import quote

from django.conf import settings

from providers.huggingface import urls
from providers.huggingface.adapters import base, tgi

CAPABILITIES = base.Capabilities(
    completion=True,
    embeddings=True,  # the feature-extraction pipeline (§11.2); rerank through the router is unconfirmed (§16.3)
    streaming=True,
    # A TGI-backed model and a transformers pipeline answer at the same URL: TGI's ranges, the stricter of the two
    # (a pipeline refuses temperature 0 with sampling too).
    parameters=base.parameters(tgi.TEXT_PARAMETERS, tgi.RANGES),
)


def models_url(repo_id):
    return urls.join(settings.HF_ROUTER_URL, f"/hf-inference/models/{quote(repo_id, safe='/')}")


class Adapter(tgi.Adapter):
    details = False

    def capabilities(self, target):
        return CAPABILITIES

    def url(self, target):
        return models_url(target.repo_id)

    # §11.2: the feature-extraction pipeline; a pooled model answers one vector per text (1-D for a single text
    # from some backends), a plain transformers model one vector per token, mean-pooled here as Dify does.
    def embed_request(self, target, texts, dimensions=None):
        repo_id = target.repo_id.partition(":")[0]  # Inference Providers' ":hf-inference" suffix is not the repo's
        return models_url(repo_id) + "/pipeline/feature-extraction", {"inputs": texts, "normalize": True}

    def read_embeddings(self, body):
        if isinstance(body, list) and body and all(isinstance(x, (int, float)) for x in body):
            body = [body]  # one text, one 1-D vector
        if isinstance(body, list):
            body = [_mean_pooled(item) for item in body]
        return base.vectors(body), None


def _mean_pooled(item):
    """A text's vector: itself, or the mean of its tokens' vectors (a [tokens][hidden] answer, or [1][tokens][…])."""
    while (
        isinstance(item, list)
        and len(item) == 1
        and isinstance(item[0], list)
        and item[0]
        and isinstance(item[0][0], list)
    ):
        item = item[0]
    if isinstance(item, list) and item and all(isinstance(row, list) for row in item):
        if (
            all(row and all(isinstance(x, (int, float)) for x in row) for row in item)
            and len({len(r) for r in item}) == 1
        ):
            return [sum(column) / len(item) for column in zip(*item, strict=True)]
    return item


ADAPTER = Adapter()
