"""Create an API key for a person (automation, CI); the key is the last line printed, and shown only there."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from providers.api import keys
from providers.api.forms import MAX_EXPIRY_DAYS
from providers.core.parameters import name_error
from providers.models import AuditEntry


class Command(BaseCommand):
    help = "Create an API key for USERNAME named NAME and print it (its last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("name")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="days until the key expires (default: never)")

    def handle(self, username, name, expires=None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username} is deactivated; a key would not work.")
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        if expires is not None and not 1 <= expires <= MAX_EXPIRY_DAYS:
            raise CommandError(f"--expires must be between 1 and {MAX_EXPIRY_DAYS} days.")
        try:
            name_error(name)
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        try:
            key, raw = keys.create(user, name, expires)
        except keys.TooManyKeys as exc:
            raise CommandError(
                f"{username} already has {exc.args[0]} usable keys (API_MAX_KEYS_PER_USER); revoke one first."
            ) from None
        AuditEntry.objects.create(
            actor_name="manage.py",
            action="api_key.create",
            target_type="apikey",
            target_id=str(key.pk),
            target_repr=str(key),
            changes={"prefix": key.prefix, "owner": username, "expires_at": str(key.expires_at or "")},
        )
        until = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ", no expiry"
        self.stdout.write(f"Created key {key.name!r} for {username} ({key.prefix}…{until}). It is shown only once:")
        self.stdout.write(raw)
