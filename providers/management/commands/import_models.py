from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.settings_screen.transfer import ImportRejected, import_models, parse


class Command(BaseCommand):
    help = "Import a model configuration exported by export_models; all entries or none."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            with open(path, "rb") as handle:
                raw = handle.read(settings.IMPORT_MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            report = import_models(parse(raw))
        except ImportRejected as exc:
            raise CommandError("nothing imported: " + "; ".join(exc.errors)) from None
        for key in ("created", "updated", "skipped"):
            self.stdout.write(f"{key}: {len(report[key])} {', '.join(report[key])}")
