"""One adapter per wire protocol, and which one speaks to a target. Nothing outside adapters/ knows a dialect."""

from providers.huggingface import engines
from providers.huggingface.adapters import hf_inference, openai, tei, tgi
from providers.huggingface.adapters.base import Capabilities, Finish

__all__ = ["Capabilities", "Finish", "adapter_for", "vector_adapter_for"]


def adapter_for(target):
    """The adapter for a target, chosen once per request (its methods then take the same target)."""
    if target.engine == engines.TEI:
        return tei.ADAPTER
    if target.task == "chat" or target.openai_style or target.endpoint_type == "inference_providers":
        return openai.ADAPTER  # the router speaks OpenAI's protocol only
    if target.endpoint_type == "inference_endpoint":
        return tgi.ADAPTER  # TGI, or a server not identified: TGI's compat route, as before engines were told apart
    return hf_inference.ADAPTER


def vector_adapter_for(target):
    """The adapter that computes embeddings or rerank scores for a target: TEI's routes on a dedicated endpoint
    (Inference Endpoints run TEI for these tasks; also when the engine was not identified), OpenAI's routes on an
    OpenAI-compatible server, the task pipelines for the Hosted Inference API and for Inference Providers when
    hf-inference is the provider chosen (provider_routes.py), else that provider's OpenAI route."""
    if target.endpoint_type == "inference_endpoint":
        return openai.ADAPTER if target.engine in engines.OPENAI_COMPATIBLE else tei.ADAPTER
    if target.endpoint_type == "hosted_api" or target.provider == "hf-inference":
        return hf_inference.ADAPTER
    return openai.ADAPTER  # Inference Providers: the chosen provider's OpenAI-shaped route (§16.4)
