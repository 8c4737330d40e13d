from django.core.management.base import BaseCommand
from django.utils import timezone

from providers.core import crypto
from providers.models import Lease


class Command(BaseCommand):
    help = "List the running server processes (their leases) with the encryption key ids each can decrypt."

    def handle(self, *args, **options):
        live = list(Lease.objects.live())
        for lease in live:
            seen = (timezone.now() - lease.seen_at).total_seconds()
            self.stdout.write(
                f"{lease.host} pid {lease.pid}: keys {', '.join(lease.key_ids) or '-'} "
                f"(started {lease.started_at:%Y-%m-%d %H:%M:%S} UTC, seen {seen:.0f} s ago)"
            )
        shared = crypto.shared_key_id(lease.key_ids for lease in live)
        self.stdout.write(f"{len(live)} running server process(es); new tokens are encrypted with key {shared}.")
