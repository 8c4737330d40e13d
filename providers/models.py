"""The console's data: Hugging Face provider settings, configured models, test history, audit, playground runs."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from providers.core import crypto
from providers.huggingface.engines import CHOICES as ENGINE_CHOICES


class SecretsMixin(models.Model):
    """Rows holding an encrypted token in `<field>_encrypted` and its last four characters in `<field>_last4`.

    The ciphertext is bound to table, `uid` and field, so `uid` (not the auto pk) is known before the first save.
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True

    SECRET_FIELDS = ("api_token",)

    def secret_context(self, field):
        return f"{self._meta.db_table}:{self.uid}:{field}"

    def set_secret(self, field, plaintext):
        if plaintext:
            key_id = crypto.shared_key_id(Lease.objects.live().values_list("key_ids", flat=True))
            setattr(self, f"{field}_encrypted", crypto.encrypt(plaintext, self.secret_context(field), key_id))
            setattr(self, f"{field}_last4", plaintext[-4:])
        else:
            setattr(self, f"{field}_encrypted", "")
            setattr(self, f"{field}_last4", "")

    def get_secret(self, field):
        """The plaintext, "" when unset; raises crypto.UndecryptableSecret when no key opens it."""
        stored = getattr(self, f"{field}_encrypted")
        return crypto.decrypt(stored, self.secret_context(field)) if stored else ""

    def has_secret(self, field):
        return bool(getattr(self, f"{field}_encrypted"))

    def secret_readable(self, field):
        try:
            self.get_secret(field)
        except crypto.UndecryptableSecret:
            return False
        return True

    def masked_secret(self, field):
        last4 = getattr(self, f"{field}_last4")
        return f"hf_…{last4}" if self.has_secret(field) else ""

    @property
    def masked_token(self):
        return self.masked_secret("api_token")


class ProviderSettings(SecretsMixin):
    """The Hugging Face provider: one row, holding the account token that models use by default."""

    api_token_encrypted = models.TextField(blank=True, default="")
    api_token_last4 = models.CharField(max_length=4, blank=True, default="")
    # What Hugging Face said of the token when it was saved (whoami): account, organisations, type, what it may
    # do; or {"error": category} when it could not be asked. Never the token itself.
    token_check = models.JSONField(blank=True, default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("manage_providers", "Can configure model providers"),
            ("manage_people", "Can manage people and roles"),
            ("use_playground", "Can use the playground"),
        ]

    def __str__(self):
        return "Hugging Face"

    SINGLETON_PK = 1

    @classmethod
    def load(cls):
        """The row, created on first use."""
        obj, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return obj

    @classmethod
    def stored(cls):
        """The row if it exists, without writing (hot paths that only read the token)."""
        return cls.objects.filter(pk=cls.SINGLETON_PK).first()


class Freshness(models.Model):
    """A single row whose value changes with the configuration (see providers/freshness.py)."""

    value = models.BigIntegerField(default=0)

    def __str__(self):
        return str(self.value)


class EndpointType(models.TextChoices):
    HOSTED_API = "hosted_api", _("Hosted Inference API")
    INFERENCE_ENDPOINT = "inference_endpoint", _("Inference Endpoint")
    INFERENCE_PROVIDERS = "inference_providers", _("Inference Providers")


class Task(models.TextChoices):
    TEXT_GENERATION = "text-generation", "text-generation"
    TEXT2TEXT_GENERATION = "text2text-generation", "text2text-generation"
    CHAT = "chat", _("chat")
    FEATURE_EXTRACTION = "feature-extraction", _("embeddings (feature-extraction)")
    TEXT_RANKING = "text-ranking", _("rerank (text-ranking)")


# The tasks that compute vectors or scores instead of generating text.
EMBEDDING_TASKS = {Task.FEATURE_EXTRACTION, Task.TEXT_RANKING}


class HFModel(SecretsMixin):
    """One configured Hugging Face model, as the admin entered it."""

    display_name = models.CharField(max_length=100, unique=True)
    endpoint_type = models.CharField(max_length=32, choices=EndpointType.choices)
    task = models.CharField(max_length=32, choices=Task.choices)
    repo_id = models.CharField(max_length=160, blank=True, default="")
    endpoint_url = models.URLField(max_length=500, blank=True, default="")
    api_token_encrypted = models.TextField(blank=True, default="")
    api_token_last4 = models.CharField(max_length=4, blank=True, default="")
    enabled = models.BooleanField(default=True)
    # The provider token goes only to Hugging Face's own hosts; to any other URL only when an admin allows it here.
    send_provider_token = models.BooleanField(default=False)
    # An endpoint's server takes images in chat (a vision model): set by an admin, since no engine says so for
    # sure. Inference Providers models are read from the router's catalog instead.
    accepts_images = models.BooleanField(default=False)
    # /v1/ leaves out the request fields this model's upstream cannot carry instead of refusing the call (as
    # LiteLLM's drop_params does); the answer names them in X-Dropped-Params, so nothing goes unseen.
    drop_unsupported = models.BooleanField(default=False)
    # What Test connection (or the first playground run) found behind an endpoint URL; "" until then.
    engine = models.CharField(max_length=16, blank=True, default="", choices=ENGINE_CHOICES)
    served_model = models.CharField(max_length=300, blank=True, default="")

    max_new_tokens = models.PositiveIntegerField(null=True, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    top_k = models.PositiveIntegerField(null=True, blank=True)
    repetition_penalty = models.FloatField(null=True, blank=True)
    stop_sequences = models.JSONField(default=list, blank=True)

    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_test = models.ForeignKey("ConnectionTest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The model's name in the API (/v1/): chosen once from the display name, kept when the model is renamed.
    api_id = models.SlugField(max_length=100, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name

    PARAMETER_FIELDS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences")

    @property
    def target(self):
        """What the list shows: the repo id, or the endpoint's whole URL (hosts alone look alike)."""
        if self.endpoint_type == EndpointType.INFERENCE_ENDPOINT:
            return self.endpoint_url
        return self.repo_id

    @property
    def is_chat(self):
        return self.task == Task.CHAT

    @property
    def generates(self):
        return self.task not in EMBEDDING_TASKS

    def default_parameters(self):
        params = {name: getattr(self, name) for name in self.PARAMETER_FIELDS}
        return {k: v for k, v in params.items() if v not in (None, [], "")}


class ConnectionTest(models.Model):
    """One run of "Test connection", kept as history."""

    model = models.ForeignKey(HFModel, null=True, blank=True, on_delete=models.CASCADE, related_name="tests")
    ok = models.BooleanField()
    category = models.CharField(max_length=40, blank=True, default="")
    message = models.TextField(blank=True, default="")
    http_status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    sample_output = models.TextField(blank=True, default="")
    server_info = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=list, blank=True)
    # What was tested (type, task, repo id, URL), so a test run from an unsaved form joins the model it became.
    config = models.JSONField(default=dict, blank=True)
    # The diagnosis's situation ({"variant", "context"}), so stored results keep their precise advice.
    diagnosis = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.category or 'ok'} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def title(self):
        """The short words for the result, for the endpoint type of the model it belongs to."""
        if self.ok:
            return _("works")
        return self.wording()[0]

    @property
    def advice(self):
        return "" if self.ok else self.wording()[1]

    @property
    def admin_hint(self):
        """The console setting an admin may change for this failure (the pages that show it are admins')."""
        from providers.huggingface.errors import ADMIN_HINTS

        return "" if self.ok else str(ADMIN_HINTS.get(self.category, ""))

    def wording(self):
        from providers.huggingface.errors import wording

        kind = self.model.endpoint_type if self.model_id else ""
        return wording(self.category, kind, self.diagnosis.get("variant", ""), **self.diagnosis.get("context", {}))


class AuditEntry(models.Model):
    """Who changed what, when and from where. Never holds a secret's value."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    target_type = models.CharField(max_length=40, blank=True, default="")
    target_id = models.CharField(max_length=40, blank=True, default="")
    target_repr = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.action} {self.target_repr}"

    def change_lines(self):
        from providers.core.display import change_lines

        return change_lines(self.changes, self.action)


class RunStatus(models.TextChoices):
    RUNNING = "running", _("running")
    OK = "ok", _("completed")
    FAILED = "failed", _("failed")
    STOPPED = "stopped", _("stopped")
    INTERRUPTED = "interrupted", _("interrupted")


class PlaygroundRun(models.Model):
    """A prompt (or conversation) tried in the playground, with its output and figures."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    model = models.ForeignKey(HFModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    model_name = models.CharField(max_length=100)
    mode = models.CharField(max_length=16, default="completion")
    prompt = models.TextField(blank=True, default="")
    messages = models.JSONField(default=list, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    error_category = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")  # words anyone who sees the run may read
    error_detail = models.TextField(blank=True, default="")  # the upstream's own text: for admins only
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    generated_tokens = models.PositiveIntegerField(null=True, blank=True)
    tokens_counted = models.BooleanField(default=False)  # the server reported none: the console counted them
    tokens_per_second = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True, default="")
    compare_group = models.UUIDField(null=True, blank=True, db_index=True)
    # The chat this run is a turn of: history lists a conversation once, by its latest turn.
    conversation = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # While running: the lease id of the server process relaying it (see Lease) and when that process last saved it.
    worker = models.CharField(max_length=100, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The browser went away before it had taken the whole of what the upstream sent: the status says what
    # happened upstream (a complete answer stays "ok", its whole text kept), this says what the person saw.
    browser_stopped_reading = models.BooleanField(default=False)
    # An embeddings or rerank run (mode "embeddings" or "rerank"): what was sent and what came back, as
    # playground/vectors.py writes it. None for a generation.
    vectors = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="run_user_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
            # the provider page's usage figures: a model's recent runs, read from the index alone
            models.Index(fields=["model", "created_at", "status", "latency_ms"], name="run_model_usage"),
        ]

    def __str__(self):
        return f"{self.model_name} run {self.pk}"


class LeaseQuerySet(models.QuerySet):
    def live(self):
        """Leases renewed within four fifths of RUN_STALE_SECONDS, by the database's clock (machines' clocks
        differ): with a sweep every tenth, a dead process's runs end within RUN_STALE_SECONDS. A live process
        renews every fifth."""
        window = timedelta(seconds=settings.RUN_STALE_SECONDS * 0.8)
        return self.filter(seen_at__gte=ExpressionWrapper(Now() - window, output_field=models.DateTimeField()))


class Lease(models.Model):
    """A running server process, so that the others know it (providers/core/leases.py): the id its runs name
    as their owner, made at random when it starts, and the encryption keys it can decrypt. Renewed on a timer,
    deleted when the process stops cleanly; a dead process's lease goes stale."""

    id = models.CharField(primary_key=True, max_length=32)
    instance = models.CharField(max_length=32, blank=True, default="")  # its gunicorn server's token
    host = models.CharField(max_length=255)  # host name and pid are for people to read, never to judge by
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    key_ids = models.JSONField(default=list)  # ENCRYPTION_KEYS ids in their order, newest first

    objects = LeaseQuerySet.as_manager()

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"{self.host}:{self.pid} ({self.id[:8]})"


class APIKey(models.Model):
    """A personal key for the OpenAI-compatible API (providers/api/). Only its keyed hash is stored.

    The key acts as its owner. Recording use (`last_used_at`) goes through a queryset update, so it does not
    move the freshness number that revoking or changing a key moves.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_streams = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class APICall(models.Model):
    """One call of the OpenAI-compatible API, written after its answer was sent."""

    key = models.ForeignKey(APIKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    model = models.ForeignKey(HFModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="api_calls")
    model_name = models.CharField(max_length=100, blank=True, default="")
    route = models.CharField(max_length=32)
    stream = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=40, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # While the call is still in flight (written early by its process's checkpoint loop): the process serving
    # it and when that process last saw it, so that another process can end it once its own is gone.
    worker = models.CharField(max_length=100, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # only the few calls in flight: the sweeps find them without reading the whole history
            models.Index(fields=["worker", "heartbeat_at"], name="apicall_in_flight", condition=~Q(worker="")),
        ]

    def __str__(self):
        return f"{self.route} {self.status}"


class QuotaRate(models.Model):
    """One shared request counter of `core.quotas` when PostgreSQL holds them: the generic cell rate's next
    theoretical arrival time, in seconds on the database's clock (the one clock every instance shares)."""

    name = models.CharField(max_length=200, primary_key=True)
    tat = models.FloatField(default=0)

    def __str__(self):
        return self.name


class QuotaSlot(models.Model):
    """One held slot of `core.quotas` (an open stream) when PostgreSQL holds them: a lease until `expires`
    (seconds on the database's clock), renewed by the process that holds it."""

    token = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=200, db_index=True)
    expires = models.FloatField()

    def __str__(self):
        return f"{self.name} {self.token}"
