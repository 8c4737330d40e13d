"""The playground's input: the page's form and a posted run's, with one set of rules."""

import copy

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from providers.core import served_facts
from providers.core.parameters import LIMITS, check_parameters, parameter_fields, text_error
from providers.core.targets import bare_target
from providers.huggingface import catalog, transport
from providers.models import HFModel, Task


class BoundedJSONField(forms.JSONField):
    """JSON that nests too deeply is a validation error, not a RecursionError."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(_("The data nests too deeply.")) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


class PlaygroundForm(forms.Form):
    model = forms.ModelChoiceField(label=_("Model"), queryset=HFModel.objects.none(), empty_label=None)
    prompt = forms.CharField(label=_("Prompt"), required=False, widget=forms.Textarea(attrs={"rows": 6}))
    system = forms.CharField(label=_("System prompt"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    messages = BoundedJSONField(required=False, widget=forms.HiddenInput)
    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # An image attached to the chat message, as a data: URL (static/js/chat_images.js reads the file)
    image = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    seed = forms.IntegerField(label=_("Seed"), required=False, min_value=LIMITS["seed"][0], max_value=LIMITS["seed"][1])
    do_sample = forms.BooleanField(label=_("Sampling"), required=False)
    return_full_text = forms.BooleanField(label=_("Return full text"), required=False)
    stream = forms.BooleanField(label=_("Stream"), required=False, initial=True)

    def __init__(self, *args, models=None, **kwargs):
        """The page's form; a posted run is checked by PostedRunForm (below), with the same rules."""
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models if models is not None else HFModel.objects.filter(enabled=True)
        self.fields.update(parameter_fields())

    def clean_messages(self):
        messages = self.cleaned_data.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and _content_ok(m.get("content"))
            for m in messages
        ):
            raise forms.ValidationError(_("The conversation is not in the expected form."))
        for message in messages:
            for text in _texts(message["content"]):
                text_error(text)
        return messages

    def clean_image(self):
        image = self.cleaned_data.get("image") or ""
        if image:
            image_error(image)
        return image

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None:
            return data
        if not model.generates:  # kept off the generation path: its own form posts to the vectors route
            self.add_error("model", _("This model computes embeddings or rerank scores, not text."))
            return data
        image = data.get("image")
        if image and not model.is_chat:
            self.add_error("image", _("Images go with chat models only."))
        elif (image or any(not isinstance(m["content"], str) for m in data.get("messages") or [])) and (
            served_facts.takes_images(bare_target(model), model.repo_id, model.accepts_images, _router_items(model))
            is False
        ):
            self.add_error(
                "image", _("This model does not read images. Remove the image, or pick a model marked “images”.")
            )
        if model.is_chat:
            messages = data.get("messages") or []
            if data.get("prompt", "").strip() or image:
                content = data.get("prompt", "")
                if image:
                    content = [{"type": "text", "text": content}, {"type": "image_url", "image_url": {"url": image}}]
                messages = [*messages, {"role": "user", "content": content}]
            if not messages or messages[-1]["role"] != "user":
                self.add_error("prompt", _("Write a message."))
            data["messages"] = messages
        elif not data.get("prompt", "").strip():
            self.add_error("prompt", _("Write a prompt."))
        for name, message in check_parameters(data, bare_target(model)).items():
            if name not in self.errors:
                self.add_error(name, message)
        return data

    def parameters(self):
        names = ["max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences", "seed"]
        params = {n: self.cleaned_data.get(n) for n in names}
        if not self.cleaned_data["model"].is_chat:
            params["do_sample"] = self.cleaned_data.get("do_sample", False)
            params["return_full_text"] = self.cleaned_data.get("return_full_text", False)
        return {k: v for k, v in params.items() if v not in (None, "", [])}

    def chat_messages(self):
        system = self.cleaned_data.get("system", "").strip()
        return ([{"role": "system", "content": system}] if system else []) + self.cleaned_data["messages"]


IMAGE_TYPES = ("png", "jpeg", "gif", "webp")


def image_error(url):
    """Raise ValidationError unless `url` is a data: URL of an image within API_MAX_IMAGE_BYTES."""
    head, comma, data = url.partition(",")
    kind = head.removeprefix("data:image/").removesuffix(";base64")
    if not comma or not head.startswith("data:image/") or not head.endswith(";base64") or kind not in IMAGE_TYPES:
        raise forms.ValidationError(_("Attach a PNG, JPEG, GIF or WebP image."))
    if len(data) * 3 // 4 - data[-2:].count("=") > settings.API_MAX_IMAGE_BYTES:
        raise forms.ValidationError(
            _("This image is too large: the console takes images up to %(size)s MB.")
            % {"size": f"{settings.API_MAX_IMAGE_BYTES / 1_000_000:g}"}
        )


def _content_ok(content):
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(p, dict)
        and (
            (p.get("type") == "text" and isinstance(p.get("text"), str))
            or (p.get("type") == "image_url" and isinstance((p.get("image_url") or {}).get("url"), str))
        )
        for p in content
    )


def _texts(content):
    if isinstance(content, str):
        return [content]
    for part in content:
        if part["type"] == "image_url":
            image_error(part["image_url"]["url"])  # an image of an earlier turn, sent again: the same rules
    return [p["text"] for p in content if p["type"] == "text"]


def _router_items(model):
    """The router's catalog for a providers model (read, with the picker's short deadline, only when a run
    carries an image), else None."""
    if model.endpoint_type != "inference_providers":
        return None
    return catalog.router_items(None, transport.Deadline(settings.HF_PICKER_TIMEOUT))


_INVALID_CHOICE = forms.ModelChoiceField.default_error_messages["invalid_choice"]


class _ModelId(forms.Field):
    """The posted model's id, read as ModelChoiceField reads a primary key; PostedRunForm.clean_model turns it
    into the model."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise forms.ValidationError(_INVALID_CHOICE, code="invalid_choice") from None


class PostedRunForm(PlaygroundForm):
    """A posted run, checked as PlaygroundForm checks it, with one set of fields shared by every request.

    A form deep-copies its fields and PlaygroundForm builds its parameter fields, on every request: ~7% of the
    server's CPU under a thousand streams, for fields that checking a post never changes (they hold no state; the
    per-request model lookup lives on the form, not on its field). Pages keep using PlaygroundForm.
    """

    _shared = None

    def __init__(self, data, lookup):
        self.lookup = lookup
        forms.Form.__init__(self, data)  # base_fields is empty (below): nothing to copy
        self.fields = PostedRunForm.shared_fields()

    @classmethod
    def shared_fields(cls):
        if cls._shared is None:
            fields = copy.deepcopy(PlaygroundForm.base_fields)
            fields["model"] = _ModelId(label=fields["model"].label)
            fields.update(parameter_fields())
            cls._shared = fields
        return cls._shared

    def clean_model(self):
        model = self.lookup.get(self.cleaned_data["model"])
        if model is None:
            raise forms.ValidationError(_INVALID_CHOICE, code="invalid_choice")
        return model


PostedRunForm.base_fields = {}


# More texts than this make a heat map no one can read on a screen (the API takes up to API_EMBED_MAX_INPUTS).
MAX_TEXTS = 32
MAX_DOCUMENTS = 64


def _lines(value):
    return [line.strip() for line in value.splitlines() if line.strip()]


class VectorRunForm(forms.Form):
    """An embeddings run (texts, one per line) or a rerank run (a query and documents, one per line), as the
    chosen model's task asks. The page renders its text fields; the model is the page's model picker."""

    model = _ModelId(label=_("Model"))
    texts = forms.CharField(
        label=_("Texts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One text per line. Each is embedded, and every pair is compared."),
    )
    query = forms.CharField(label=_("Query"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    documents = forms.CharField(
        label=_("Documents"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One document per line. Each is scored against the query, best first."),
    )

    def __init__(self, data=None, lookup=None):
        super().__init__(data)
        self.lookup = lookup or {}

    def clean_model(self):
        model = self.lookup.get(self.cleaned_data["model"])
        if model is None:
            raise forms.ValidationError(_INVALID_CHOICE, code="invalid_choice")
        if model.generates:
            raise forms.ValidationError(_("This model generates text: write a prompt for it instead."))
        return model

    def _texts_of(self, name, most, too_many):
        """The field's lines, each a text to send, within the console's bounds."""
        lines = _lines(self.cleaned_data.get(name, ""))
        longest = settings.API_EMBED_MAX_INPUT_CHARS
        if not lines:
            self.add_error(name, _("Write at least one line."))
        elif len(lines) > min(most, settings.API_EMBED_MAX_INPUTS):
            self.add_error(name, too_many % {"n": min(most, settings.API_EMBED_MAX_INPUTS)})
        elif any(len(line) > longest for line in lines):
            self.add_error(name, _("A line may have at most %(n)s characters.") % {"n": longest})
        return lines

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None:
            return data
        longest = settings.API_EMBED_MAX_INPUT_CHARS
        if model.task == Task.FEATURE_EXTRACTION:
            data["texts"] = self._texts_of("texts", MAX_TEXTS, _("At most %(n)s texts at a time."))
        else:
            query = data.get("query", "")
            if not query:
                self.add_error("query", _("Write a query."))
            elif len(query) > longest:
                self.add_error("query", _("The query may have at most %(n)s characters.") % {"n": longest})
            data["documents"] = self._texts_of("documents", MAX_DOCUMENTS, _("At most %(n)s documents at a time."))
        return data
