"""Export and import of the model configuration as JSON, without secrets, applied in one transaction."""

from django.db import transaction

from providers.forms import ModelConfigForm
from providers.models import HFModel

FORMAT = "hf-model-console/models"
VERSION = 1
FIELDS = ["display_name", "endpoint_type", "task", "repo_id", "endpoint_url", "enabled", *HFModel.PARAMETER_FIELDS]


class ImportRejected(Exception):
    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(errors))


def export_models():
    models = [{name: getattr(m, name) for name in FIELDS} for m in HFModel.objects.order_by("display_name")]
    return {"format": FORMAT, "version": VERSION, "models": models}


def _form_data(entry):
    data = {k: entry.get(k) for k in FIELDS if k not in ("stop_sequences", "enabled")}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["stop_sequences"] = "\n".join(entry.get("stop_sequences") or [])
    if entry.get("enabled", True):
        data["enabled"] = "on"
    return data


def import_models(payload):
    """Create or update models by display name. Returns {"created", "updated", "skipped"}; all or nothing."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("models"), list):
        raise ImportRejected([f"not a {FORMAT} file"])
    report = {"created": [], "updated": [], "skipped": []}
    errors = []
    with transaction.atomic():
        existing = {m.display_name.lower(): m for m in HFModel.objects.select_for_update()}
        for index, entry in enumerate(payload["models"], start=1):
            if not isinstance(entry, dict):
                errors.append(f"entry {index}: not an object")
                continue
            instance = existing.get(str(entry.get("display_name", "")).strip().lower())
            form = ModelConfigForm(_form_data(entry), instance=instance)
            if not form.is_valid():
                detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())
                errors.append(f"entry {index} ({entry.get('display_name')}): {detail}")
                continue
            model = form.save(commit=False)
            form.apply(model)
            if instance is not None and not form.configuration_changes():
                report["skipped"].append(model.display_name)
                continue
            if instance is not None:
                model.version += 1
            model.save()
            existing[model.display_name.lower()] = model
            report["updated" if instance is not None else "created"].append(model.display_name)
        if errors:
            raise ImportRejected(errors)
    return report
