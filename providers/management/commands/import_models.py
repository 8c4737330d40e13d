import json

from django.core.management.base import BaseCommand, CommandError

from providers.transfer import ImportRejected, import_models


class Command(BaseCommand):
    help = "Import a model configuration exported by export_models; all entries or none."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                payload = json.load(handle)
            report = import_models(payload)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        except ImportRejected as exc:
            raise CommandError("nothing imported: " + "; ".join(exc.errors)) from None
        for key in ("created", "updated", "skipped"):
            self.stdout.write(f"{key}: {len(report[key])} {', '.join(report[key])}")
