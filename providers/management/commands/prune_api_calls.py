"""Delete the records of API calls older than API_CALL_RETENTION_DAYS, in small batches (run it daily)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from providers.models import APICall

BATCH = 5000  # rows per delete: short transactions, so API calls being recorded meanwhile never wait long


def prune(days, batch=BATCH):
    """Delete calls older than `days` days; returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(APICall.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += APICall.objects.filter(id__in=ids).delete()[0]


class Command(BaseCommand):
    help = "Delete API call records older than API_CALL_RETENTION_DAYS (or --days); 0 keeps them all."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead of API_CALL_RETENTION_DAYS")

    def handle(self, days=None, **options):
        days = settings.API_CALL_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 (keep everything) or more.")
        if days == 0:
            self.stdout.write("API_CALL_RETENTION_DAYS is 0: every record is kept.")
            return
        self.stdout.write(f"Deleted {prune(days)} API call record(s) older than {days} days.")
