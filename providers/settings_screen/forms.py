"""The settings screen's forms: a model's configuration, the provider token, a configuration file to import."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from providers.core.parameters import check_parameters, name_error, parameter_fields
from providers.huggingface import generation, netpolicy
from providers.models import EndpointType, HFModel, Task

# Hugging Face repo ids: `namespace/name`, word characters, `-` and `.`, no `--` or `..`, name <= 96 characters.
REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
REPO_ID_RE = re.compile(rf"^(?P<ns>{REPO_PART})/(?P<name>{REPO_PART})(?::(?P<suffix>[a-z0-9][a-z0-9-]*))?$")
TASKS_BY_TYPE = {
    EndpointType.HOSTED_API: {Task.TEXT_GENERATION, Task.TEXT2TEXT_GENERATION, Task.FEATURE_EXTRACTION},
    EndpointType.INFERENCE_ENDPOINT: {
        Task.TEXT_GENERATION,
        Task.TEXT2TEXT_GENERATION,
        Task.CHAT,
        Task.FEATURE_EXTRACTION,
        Task.TEXT_RANKING,
    },
    EndpointType.INFERENCE_PROVIDERS: {Task.CHAT, Task.FEATURE_EXTRACTION},  # embeddings: §16.4
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
    @property
    def tasks_by_type(self):
        """TASKS_BY_TYPE for the page's script, which hides the tasks an endpoint type does not allow."""
        return {str(kind): sorted(str(task) for task in tasks) for kind, tasks in TASKS_BY_TYPE.items()}

    api_token = TokenField(
        label=_("API token"),
        help_text=_(
            "Optional: left empty, the model uses the provider token where that may go (Hugging Face's own hosts, "
            "or a URL allowed below). Stored encrypted and never shown again; only its last four characters are."
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
        fields = [
            "display_name",
            "endpoint_type",
            "task",
            "repo_id",
            "endpoint_url",
            "send_provider_token",
            "accepts_images",
            "drop_unsupported",
            "enabled",
        ]
        labels = {
            "display_name": _("Display name"),
            "endpoint_type": _("Endpoint type"),
            "task": _("Task"),
            "repo_id": _("Model (Hub repo id)"),
            "enabled": _("Enabled"),
            "send_provider_token": _("Send the provider token to this URL"),
            "accepts_images": _("The model takes images in chat"),
            "drop_unsupported": _("Leave out what this model cannot do"),
        }
        help_texts = {
            "drop_unsupported": _(
                "API calls that send a setting this model's server cannot carry are normally refused with an error "
                "naming it. Tick this to send them without it instead; each answer then lists what was left out in "
                "its X-Dropped-Params header."
            ),
            "accepts_images": _(
                "Tick this for a vision model (one that reads images) on a server that takes them, so chats may "
                "attach images. Leave it off for a text-only model: images are then refused with a clear message."
            ),
            "send_provider_token": _(
                "The provider token goes only to Hugging Face's own hosts. Tick this for a server elsewhere that "
                "should get it too (a proxy in front of Hugging Face); a server with a key of its own gets that "
                "key from the API token field instead."
            ),
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
        # The engine learnt behind the URL counts while the URL stays the same (a changed URL may be another server).
        same_url = data.get("endpoint_url", "") == self.instance.endpoint_url
        target = generation.Target(
            endpoint_type=kind or "",
            task=task or "",
            endpoint_url=data.get("endpoint_url", ""),
            engine=self.instance.engine if same_url else "",
        )
        for name, message in check_parameters(data, target).items():
            if name not in self.errors:
                self.add_error(name, message)
        return data

    def _canonical(self, repo):
        """An old un-namespaced id (gpt2) becomes the id the Hub redirects it to, with a note for the admin."""
        from providers.core.targets import resolve_token
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


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Configuration file (JSON)"))
