"""A configured model as a generation.Target: its token resolved, its engine learnt once."""

import logging

from django.conf import settings
from django.db import OperationalError, transaction

from providers.core import cached, crypto, freshness, unwritable
from providers.huggingface import engines, generation, transport, urls
from providers.huggingface.errors import HFError
from providers.models import EndpointType, ProviderSettings

log = logging.getLogger(__name__)


def resolve_token(model, typed_token=""):
    """The token a model uses: one typed in the form, the model's own, else the provider's."""
    if typed_token:
        return typed_token
    if getattr(model, "from_cache", False):  # a playground model: its token is decrypted once per change
        return cached.token(model, _stored_token)
    return _stored_token(model)


def _stored_token(model):
    try:
        if model.has_secret("api_token"):
            return model.get_secret("api_token")
        if not provider_token_allowed(model):
            return ""  # the account's token is not for this server: the request goes without one
        provider = ProviderSettings.stored()
        return provider.get_secret("api_token") if provider else ""
    except crypto.UndecryptableSecret:
        raise HFError("token_unreadable") from None


def provider_token_allowed(model):
    """The provider token goes to Hugging Face's own hosts, and to another endpoint URL only when an admin ticked
    "send the provider token to this URL" on the model."""
    if model.endpoint_type != EndpointType.INFERENCE_ENDPOINT or model.send_provider_token:
        return True
    return urls.huggingface_host(model.endpoint_url)


def bare_target(model):
    """The Target of a model (or of a form's values) without a token: what its adapter is chosen by."""
    return generation.Target(
        endpoint_type=model.endpoint_type,
        task=model.task,
        repo_id=model.repo_id,
        endpoint_url=model.endpoint_url,
        engine=model.engine,
        served_model=model.served_model,
    )


def target_for(model, typed_token="", detect=True):
    """The generation.Target of a model; a saved endpoint model whose engine is not known yet learns it once.

    An Inference Endpoint's requests may wake it (transport.call decides where that applies), each within
    HF_SCALE_UP_TIMEOUT: Test connection, playground runs and API calls alike."""
    token = resolve_token(model, typed_token)
    if not token and model.endpoint_type != EndpointType.INFERENCE_ENDPOINT:
        raise HFError("no_token")
    target = generation.Target(
        endpoint_type=model.endpoint_type,
        task=model.task,
        repo_id=model.repo_id,
        endpoint_url=model.endpoint_url,
        token=token,
        scale_up_timeout=settings.HF_SCALE_UP_TIMEOUT if model.endpoint_type == EndpointType.INFERENCE_ENDPOINT else 0,
        engine=model.engine,
        served_model=model.served_model,
    )
    if detect and model.pk and model.endpoint_type == EndpointType.INFERENCE_ENDPOINT and not model.engine:
        deadline = transport.Deadline(settings.HF_TEST_TIMEOUT)
        found = engines.identify_engine(target.endpoint_url, token, deadline, target.headers())
        remember_engine(model, found)
        target.engine, target.served_model = found.engine, found.served_model
    return target


def remember_engine(model, found, save=True):
    """Store what was found behind the URL, so later runs need not ask again.

    `save=False` only notes it on the instance (a streamed test's worker thread leaves the database to the
    request's thread, which saves it with `save_engine`).
    """
    model.engine, model.served_model = found.engine, found.served_model[:300]
    if getattr(found, "vision", False):
        model.accepts_images = True  # the server said so; an admin's mark is never taken away here
    if model.pk and save:
        save_engine(model)


def save_engine(model):
    if model.pk:
        try:
            with transaction.atomic():
                changed = (
                    type(model)
                    .objects.filter(pk=model.pk, endpoint_url=model.endpoint_url)
                    .update(engine=model.engine, served_model=model.served_model, accepts_images=model.accepts_images)
                )
                if changed:
                    freshness.bump()  # processes holding the model learn the engine too, instead of asking again
        except OperationalError as exc:
            if not unwritable.is_full(exc):
                raise
            # What was learnt is a saving of requests, not a result: it is asked again next time.
            log.warning("could not save the engine of model %s: %s", model.pk, exc)
