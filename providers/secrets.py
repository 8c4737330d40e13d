"""Every stored secret in the database, and their re-encryption under the first configured key."""

from django.db import transaction

from providers import crypto
from providers.models import HFModel, ProviderSettings

SECRET_MODELS = (ProviderSettings, HFModel)


def rotate(batch_size=100, report=None):
    """Re-encrypt every secret not under the primary key. Idempotent; each batch commits on its own.

    Returns {"moved": {old key id: count}, "unreadable": [(model, pk)]}. An unreadable value is left untouched.
    """
    primary = crypto.keyring().primary_id
    moved, unreadable = {}, []
    for model in SECRET_MODELS:
        for field in model.SECRET_FIELDS:
            column = f"{field}_encrypted"
            last_pk = 0
            while True:
                with transaction.atomic():
                    rows = list(
                        model.objects.select_for_update()
                        .filter(pk__gt=last_pk)
                        .exclude(**{column: ""})
                        .order_by("pk")[:batch_size]
                    )
                    if not rows:
                        break
                    for row in rows:
                        last_pk = row.pk
                        stored = getattr(row, column)
                        old_id = crypto.key_id_of(stored)
                        if old_id == primary:
                            continue
                        try:
                            plaintext = row.get_secret(field)
                        except crypto.UndecryptableSecret:
                            unreadable.append((model.__name__, row.pk))
                            continue
                        setattr(row, column, crypto.encrypt(plaintext, row.secret_context(field)))
                        row.save(update_fields=[column])
                        moved[old_id] = moved.get(old_id, 0) + 1
                if report:
                    report(model.__name__, last_pk)
    return {"moved": moved, "unreadable": unreadable}
