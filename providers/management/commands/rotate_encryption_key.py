from django.core.management.base import BaseCommand, CommandError

from providers.core import crypto
from providers.core.secrets import instances_without, rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored token under the first key of ENCRYPTION_KEYS. Safe to interrupt and re-run."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, batch_size=100, **options):
        try:
            primary = crypto.keyring().primary_id
        except crypto.KeyConfigError as exc:
            raise CommandError(str(exc)) from None
        lacking = instances_without(primary)
        if lacking:  # values moved to the new key now would fail every call those instances serve
            where = ", ".join(f"{lease.host} (pid {lease.pid})" for lease in lacking)
            raise CommandError(
                f"{len(lacking)} running instance(s) cannot read key {primary}: {where}. Nothing was re-encrypted. "
                f"Restart each with {primary} first in ENCRYPTION_KEYS (keeping the old keys), check with "
                "`manage.py instances`, then run this again."
            )
        result = rotate(batch_size=batch_size)
        for key_id, count in sorted(result["moved"].items(), key=lambda kv: str(kv[0])):
            self.stdout.write(f"{count} value(s) moved from key {key_id} to key {primary}")
        if result["unreadable"]:
            where = ", ".join(f"{model} #{pk}" for model, pk in result["unreadable"])
            raise CommandError(
                f"{len(result['unreadable'])} token(s) cannot be decrypted with the configured keys: {where} "
                "(left untouched). A key id that matches with different key bytes gives this too: check "
                "ENCRYPTION_KEYS against your backup."
            )
        if not result["moved"]:
            self.stdout.write(f"Nothing to move: every value is readable and under key {primary}.")
