"""Export and import of the model configuration as JSON, without secrets.

An import is read within IMPORT_MAX_BYTES and IMPORT_MAX_MODELS, every entry is type-checked and then validated
by the model form itself, and only when all of them pass is anything written, in one short transaction.
"""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from providers.models import HFModel
from providers.settings_screen.forms import ModelConfigForm

FORMAT = "hf-model-console/models"
VERSION = 1
FIELDS = [
    "display_name",
    "api_id",
    "endpoint_type",
    "task",
    "repo_id",
    "endpoint_url",
    "send_provider_token",
    "accepts_images",
    "drop_unsupported",
    "enabled",
    *HFModel.PARAMETER_FIELDS,
]
API_ID_MAX = HFModel._meta.get_field("api_id").max_length
ECHO_LIMIT = 80  # characters of a refused value or message repeated back in an error
ERRORS_SHOWN = 50  # a file that is wrong everywhere is not echoed back whole either

# JSON type each field must have in a file; None (null) is accepted where the field is optional.
_TEXT, _WHOLE, _NUMBER, _BOOL, _TEXTS = "text", "whole", "number", "bool", "texts"
FIELD_TYPES = {
    "display_name": (_TEXT, False),
    "api_id": (_TEXT, True),  # not a form field: checked by _api_id_error (a missing one is chosen on save)
    "endpoint_type": (_TEXT, False),
    "task": (_TEXT, False),
    "repo_id": (_TEXT, True),
    "endpoint_url": (_TEXT, True),
    "send_provider_token": (_BOOL, True),
    "accepts_images": (_BOOL, True),
    "drop_unsupported": (_BOOL, True),
    "enabled": (_BOOL, True),
    "max_new_tokens": (_WHOLE, True),
    "temperature": (_NUMBER, True),
    "top_p": (_NUMBER, True),
    "top_k": (_WHOLE, True),
    "repetition_penalty": (_NUMBER, True),
    "stop_sequences": (_TEXTS, True),
}


class ImportRejected(Exception):
    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(errors))


def short(text, limit=ECHO_LIMIT):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def export_models():
    models = [{name: getattr(m, name) for name in FIELDS} for m in HFModel.objects.order_by("display_name")]
    return {"format": FORMAT, "version": VERSION, "models": models}


def _refuse_constant(name):
    raise ValueError(name)


def parse(raw):
    """The payload of an import file (bytes), or ImportRejected with one readable reason."""
    limit = settings.IMPORT_MAX_BYTES
    if len(raw) > limit:
        raise ImportRejected(
            [_("The file is larger than %(limit)s bytes (IMPORT_MAX_BYTES).") % {"limit": f"{limit:,}"}]
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ImportRejected([_("The file nests too deeply to be a model configuration.")]) from None
    except (ValueError, UnicodeDecodeError):
        raise ImportRejected([_("The file is not valid JSON.")]) from None


def _type_error(kind, value):
    if kind == _TEXT and not isinstance(value, str):
        return _("must be a text")
    if kind == _WHOLE and (isinstance(value, bool) or not isinstance(value, int)):
        return _("must be a whole number")
    if kind == _NUMBER and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return _("must be a number")
    if kind == _BOOL and not isinstance(value, bool):
        return _("must be true or false")
    if kind == _TEXTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return _("must be a list of texts")
    return None


def _form_data(entry):
    """(data for the model form, {field: type problem}) for one entry: nothing is converted silently."""
    data, problems = {}, {}
    for name, (kind, optional) in FIELD_TYPES.items():
        value = entry.get(name)
        if value is None:
            if not optional:
                problems[name] = _("is missing")
            elif name == "enabled":
                data[name] = True
            continue
        problem = _type_error(kind, value)
        if problem:
            problems[name] = problem
        elif kind in (_WHOLE, _NUMBER):
            data[name] = repr(value)
        else:
            data[name] = value
    return data, problems


def _api_id_error(api_id, instance, taken, seen):
    """Why an entry's API id cannot be used, or None. The same rules as the ids the console chooses: a slug of at
    most 100 characters, used by no other model (clients call the model by it)."""
    try:
        validate_slug(api_id)
    except ValidationError:
        return _("must use only letters, digits, hyphens and underscores")
    if len(api_id) > API_ID_MAX:
        return _("may have at most %(max)s characters") % {"max": API_ID_MAX}
    if api_id in seen:
        return _("appears twice in the file")
    owner = taken.get(api_id)
    if owner is not None and (instance is None or owner != instance.pk):
        return _("is the API id of another model")
    return None


def _entry_error(index, name, field, message):
    return _("Entry %(index)s (%(name)s), field “%(field)s”: %(message)s") % {
        "index": index,
        "name": short(name, 40) if isinstance(name, str) and name else "?",
        "field": short(field, 40),
        "message": short(message, 200),
    }


def validate(payload):
    """Every entry checked, nothing written. Returns (plans, report) or raises ImportRejected with every error."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("models"), list):
        raise ImportRejected([_("This is not a model configuration exported by this console.")])
    entries = payload["models"]
    if len(entries) > settings.IMPORT_MAX_MODELS:
        raise ImportRejected(
            [
                _("The file holds %(count)s models; at most %(limit)s are imported at once (IMPORT_MAX_MODELS).")
                % {"count": len(entries), "limit": settings.IMPORT_MAX_MODELS}
            ]
        )
    existing = {m.display_name.lower(): m for m in HFModel.objects.all()}
    taken = {m.api_id: m.pk for m in existing.values() if m.api_id}
    report = {"created": [], "updated": [], "skipped": []}
    plans, errors, seen, seen_ids = [], [], set(), set()
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            errors.append(_("Entry %(index)s is not an object.") % {"index": index})
            continue
        name = entry.get("display_name")
        data, problems = _form_data(entry)
        if problems:
            errors.extend(_entry_error(index, name, field, message) for field, message in problems.items())
            continue
        key = data["display_name"].strip().lower()
        if key in seen:
            errors.append(_entry_error(index, name, "display_name", _("appears twice in the file")))
            continue
        seen.add(key)
        instance = existing.get(key)
        api_id = data.pop("api_id", None) or None  # empty: the console chooses one, as for a new model
        if api_id is not None:
            problem = _api_id_error(api_id, instance, taken, seen_ids)
            seen_ids.add(api_id)
            if problem:
                errors.append(_entry_error(index, name, "api_id", problem))
                continue
        form = ModelConfigForm(data, instance=instance)
        if not form.is_valid():
            errors.extend(
                _entry_error(index, name, field, " ".join(messages)) for field, messages in form.errors.items()
            )
            continue
        version = instance.version if instance is not None else None
        model = form.save(commit=False)
        form.apply(model)
        new_id = api_id is not None and api_id != model.api_id
        if new_id:
            model.api_id = api_id
        if instance is not None and not form.configuration_changes() and not new_id:
            report["skipped"].append(model.display_name)
            continue
        plans.append((model, version))
        report["updated" if version is not None else "created"].append(model.display_name)
    if len(errors) > ERRORS_SHOWN:
        hidden = len(errors) - ERRORS_SHOWN
        errors = [*errors[:ERRORS_SHOWN], _("… and %(count)s more errors.") % {"count": hidden}]
    if errors:
        raise ImportRejected(errors)
    return plans, report


def import_models(payload, written=None):
    """Create or update models by display name. Returns {"created", "updated", "skipped"}; all or nothing.

    The write transaction only re-checks that nobody changed the same models meanwhile, then saves; `written(report)`
    runs in it (the audit entry: saved with the models or not at all).
    """
    plans, report = validate(payload)
    # Models whose id the file gives are saved first, so an id chosen for another new model cannot take it.
    plans.sort(key=lambda plan: not plan[0].api_id)
    try:
        _write(plans, lambda: written(report) if written else None)
    except IntegrityError:  # an API id taken by a model added meanwhile
        raise ImportRejected(
            [_("Another model was saved during the import; nothing was imported. Try again.")]
        ) from None
    return report


def _write(plans, written):
    with transaction.atomic():
        current = dict(
            HFModel.objects.select_for_update()
            .filter(pk__in=[m.pk for m, version in plans if version is not None])
            .values_list("pk", "version")
        )
        taken = {n.lower() for n in HFModel.objects.values_list("display_name", flat=True)}
        for model, version in plans:
            changed = current.get(model.pk) != version if version is not None else model.display_name.lower() in taken
            if changed:
                raise ImportRejected(
                    [
                        _("%(name)s was changed by someone else during the import; nothing was imported. Try again.")
                        % {"name": short(model.display_name, 40)}
                    ]
                )
            if version is not None:
                model.version = version + 1
            model.save()
        written()
