from django.core.management.base import BaseCommand

from providers.core.crypto import generate_key


class Command(BaseCommand):
    requires_system_checks = []  # must work before any encryption key exists
    help = "Print a new `id:key` pair for ENCRYPTION_KEYS (put it first to make it the encrypting key)."

    def add_arguments(self, parser):
        parser.add_argument("--id", dest="key_id", help="key id (letters, digits, - and _)")

    def handle(self, *args, key_id=None, **options):
        self.stdout.write(generate_key(key_id))
