import json

from django.core.management.base import BaseCommand

from providers.settings_screen.transfer import export_models


class Command(BaseCommand):
    help = "Print the model configuration as JSON (no tokens)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(export_models(), indent=2, ensure_ascii=False))
