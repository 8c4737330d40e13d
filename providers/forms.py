"""Every validation rule of the console: model configuration, tokens, people, playground input."""

import copy
import re

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext_lazy as _

from providers import netpolicy, roles
from providers.generation_params import LIMITS, check_parameters, name_error, parameter_fields, text_error
from providers.models import EndpointType, HFModel, Task

# Hugging Face repo ids: `namespace/name`, word characters, `-` and `.`, no `--` or `..`, name <= 96 characters.
REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
REPO_ID_RE = re.compile(rf"^(?P<ns>{REPO_PART})/(?P<name>{REPO_PART})(?::(?P<suffix>[a-z0-9][a-z0-9-]*))?$")
TASKS_BY_TYPE = {
    EndpointType.HOSTED_API: {Task.TEXT_GENERATION, Task.TEXT2TEXT_GENERATION},
    EndpointType.INFERENCE_ENDPOINT: {Task.TEXT_GENERATION, Task.TEXT2TEXT_GENERATION, Task.CHAT},
    EndpointType.INFERENCE_PROVIDERS: {Task.CHAT},
}
TOKEN_RE = re.compile(r"^\S{8,512}$")


def repo_id_error(value, allow_suffix):
    match = REPO_ID_RE.match(value)
    if not match:
        return _("A repo id looks like namespace/name (letters, digits, “-”, “_”, “.”), e.g. google/flan-t5-base.")
    if match.group("suffix") and not allow_suffix:
        return _("A “:provider” suffix is only for Inference Providers.")
    if len(match.group("ns")) > 42 or len(match.group("name")) > 96:
        return _("The namespace may have at most 42 characters and the name at most 96.")
    if "--" in value or ".." in value or value.endswith(".git"):
        return _("A repo id may not contain “--” or “..” nor end with “.git”.")
    return None


class TokenField(forms.CharField):
    """A write-only secret: never rendered back, stripped, checked for shape only."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", True)
        kwargs.setdefault("widget", forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value and not TOKEN_RE.match(value):
            raise forms.ValidationError(_("A token is one word of 8 to 512 characters, without spaces."))


class ModelConfigForm(forms.ModelForm):
    api_token = TokenField(
        label=_("API token"),
        help_text=_(
            "Optional: leave it empty to use the provider token. Stored encrypted and never shown again; "
            "only its last four characters are."
        ),
    )
    endpoint_url = forms.URLField(
        label=_("Endpoint URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_(
            "The URL shown in the Inference Endpoints dashboard, "
            "e.g. https://xyz.us-east-1.aws.endpoints.huggingface.cloud"
        ),
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    clear_token = forms.BooleanField(label=_("Remove this model's token (use the provider token)"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = HFModel
        fields = ["display_name", "endpoint_type", "task", "repo_id", "endpoint_url", "enabled"]
        labels = {
            "display_name": _("Display name"),
            "endpoint_type": _("Endpoint type"),
            "task": _("Task"),
            "repo_id": _("Model (Hub repo id)"),
            "enabled": _("Enabled"),
        }
        widgets = {"endpoint_type": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.notes = []  # things to tell the admin after saving (e.g. a renamed repo id)
        self.fields.update(parameter_fields())
        # Cards, not a list with a blank "-----": the usual choice is preselected, with a task it allows.
        self.fields["endpoint_type"].choices = [
            (t.value, t.label)
            for t in (EndpointType.INFERENCE_PROVIDERS, EndpointType.HOSTED_API, EndpointType.INFERENCE_ENDPOINT)
        ]
        self.fields["task"].choices = Task.choices
        if not self.instance.pk:
            self.initial.setdefault("endpoint_type", EndpointType.INFERENCE_PROVIDERS)
            self.initial.setdefault("task", Task.CHAT)
        if self.instance.pk:
            self.initial["version"] = self.instance.version
            for name in HFModel.PARAMETER_FIELDS:
                self.initial[name] = getattr(self.instance, name)
        else:
            del self.fields["clear_token"]

    def clean_display_name(self):
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the model a display name."))
        name_error(name)
        clash = HFModel.objects.filter(display_name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("Another model already has this display name."))
        return name

    def clean_repo_id(self):
        return self.cleaned_data.get("repo_id", "").strip()

    def clean_endpoint_url(self):
        return (self.cleaned_data.get("endpoint_url") or "").strip()

    def clean(self):
        data = super().clean()
        kind = data.get("endpoint_type")
        task = data.get("task")
        if kind and task and task not in TASKS_BY_TYPE[kind]:
            allowed = ", ".join(sorted(str(Task(t).label) for t in TASKS_BY_TYPE[kind]))
            self.add_error("task", _("This endpoint type supports: %(tasks)s.") % {"tasks": allowed})
        if kind in (EndpointType.HOSTED_API, EndpointType.INFERENCE_PROVIDERS):
            data["endpoint_url"] = ""  # ignored and not stored for the serverless types
            repo = data["repo_id"] = self._canonical(data.get("repo_id", ""))
            if not repo:
                self.add_error("repo_id", _("Enter the model's Hub repo id."))
            else:
                error = repo_id_error(repo, allow_suffix=kind == EndpointType.INFERENCE_PROVIDERS)
                if error:
                    self.add_error("repo_id", error)
        elif kind == EndpointType.INFERENCE_ENDPOINT:
            url = data.get("endpoint_url", "")
            if not url and "endpoint_url" not in self.errors:
                self.add_error("endpoint_url", _("Paste the endpoint URL."))
            elif url:
                try:
                    netpolicy.check_url(url)
                except netpolicy.BlockedURL as exc:
                    self.add_error("endpoint_url", exc.message)
            repo = data.get("repo_id", "")
            if repo and repo_id_error(repo, allow_suffix=False):
                self.add_error("repo_id", repo_id_error(repo, allow_suffix=False))
        for name, message in check_parameters(data, task).items():
            if name not in self.errors:
                self.add_error(name, message)
        return data

    def _canonical(self, repo):
        """An old un-namespaced id (gpt2) becomes the id the Hub redirects it to, with a note for the admin."""
        from providers.connection_test import resolve_token
        from providers.huggingface import catalog
        from providers.huggingface.errors import HFError

        if not repo or "/" in repo.partition(":")[0]:
            return repo
        try:
            canonical = catalog.canonical_legacy_id(repo, resolve_token(self.instance))
        except HFError:
            return repo  # the Hub cannot say; the usual namespace/name rule explains what to type
        if canonical:
            self.notes.append(
                _("“%(old)s” is an old name; the Hub now calls it %(new)s, which is what was saved.")
                % {"old": repo, "new": canonical}
            )
            return canonical
        return repo

    BOOKKEEPING_FIELDS = ("api_token", "clear_token", "version")

    def configuration_changes(self):
        """The configuration fields that differ from the stored model (the token is tracked apart)."""
        return [name for name in self.changed_data if name not in self.BOOKKEEPING_FIELDS]

    def apply(self, instance):
        """Copy the cleaned values (including parameters and the token) onto the instance; return changed names."""
        for name in HFModel.PARAMETER_FIELDS:
            value = self.cleaned_data.get(name)
            setattr(instance, name, value if value not in ("",) else None)
        if instance.stop_sequences is None:
            instance.stop_sequences = []
        changed = self.configuration_changes()
        if {"endpoint_url", "endpoint_type"} & set(changed):
            instance.engine, instance.served_model = "", ""  # another server: identify it again on next use
        if self.cleaned_data.get("api_token"):
            instance.set_secret("api_token", self.cleaned_data["api_token"])
            changed.append("api_token")
        elif self.cleaned_data.get("clear_token") and instance.has_secret("api_token"):
            instance.set_secret("api_token", "")
            changed.append("api_token")
        return changed


class ProviderTokenForm(forms.Form):
    api_token = TokenField(label=_("Hugging Face API token"), required=True)


class SetupForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    email = forms.EmailField(label=_("Email"))
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label=_("Password again"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        name_error(name)
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError(_("This user name is taken."))
        return name

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif data.get("password1"):
            user = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(data["password1"], user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


ROLE_CHOICES = [(roles.ADMIN, _("Admin")), (roles.MEMBER, _("Member"))]


class PersonForm(SetupForm):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES, initial=roles.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


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
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
            for m in messages
        ):
            raise forms.ValidationError(_("The conversation is not in the expected form."))
        for message in messages:
            text_error(message["content"])
        return messages

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is None:
            return data
        if model.is_chat:
            messages = data.get("messages") or []
            if data.get("prompt", "").strip():
                messages = [*messages, {"role": "user", "content": data["prompt"]}]
            if not messages or messages[-1]["role"] != "user":
                self.add_error("prompt", _("Write a message."))
            data["messages"] = messages
        elif not data.get("prompt", "").strip():
            self.add_error("prompt", _("Write a prompt."))
        for name, message in check_parameters(data, model.task).items():
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


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Configuration file (JSON)"))
