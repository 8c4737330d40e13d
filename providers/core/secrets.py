"""Every stored secret in the database, and their re-encryption under the first configured key."""

from django.db import transaction

from providers.core import crypto
from providers.models import HFModel, Lease, ProviderSettings

SECRET_MODELS = (ProviderSettings, HFModel)


def instances_without(key_id):
    """The live server processes (leases) that cannot decrypt values under `key_id`."""
    return [lease for lease in Lease.objects.live() if key_id not in lease.key_ids]


def rotate(batch_size=100, report=None):
    """Re-encrypt every secret not under the primary key. Idempotent; each batch commits on its own.

    Returns {"moved": {old key id: count}, "unreadable": [(model, pk)]}. An unreadable value (whatever key id it
    names) is left untouched and reported.
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
                        old_id = crypto.key_id_of(getattr(row, column))
                        # Every value is opened, also those already under the primary id: a key with the right
                        # id and the wrong bytes must be reported, not taken for "nothing to do".
                        try:
                            plaintext = row.get_secret(field)
                        except crypto.UndecryptableSecret:
                            unreadable.append((model.__name__, row.pk))
                            continue
                        if old_id == primary:
                            continue
                        setattr(row, column, crypto.encrypt(plaintext, row.secret_context(field)))
                        row.save(update_fields=[column])
                        moved[old_id] = moved.get(old_id, 0) + 1
                if report:
                    report(model.__name__, last_pk)
    return {"moved": moved, "unreadable": unreadable}
