from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from providers.models import HFModel
from providers.settings_screen.connection_test import record_test, run_test


def _test(model):
    try:
        return model, run_test(model)
    finally:
        connections.close_all()  # this pool thread ends with the command: leave no connection behind


class Command(BaseCommand):
    help = "Test the connection of every enabled model (or those named) and exit non-zero if any fails."

    def add_arguments(self, parser):
        parser.add_argument("--model", action="append", default=[], help="display name; repeatable")

    def handle(self, *args, model=(), **options):
        models = HFModel.objects.filter(enabled=True)
        if model:
            models = HFModel.objects.filter(display_name__in=model)
            missing = set(model) - set(models.values_list("display_name", flat=True))
            if missing:
                raise CommandError(f"no model named: {', '.join(sorted(missing))}")
        models = list(models)
        if not models:
            self.stdout.write("No enabled model to test.")
            return
        with ThreadPoolExecutor(max_workers=max(1, settings.HF_CHECK_CONCURRENCY)) as pool:
            results = list(pool.map(_test, models))
        width = max(len(m.display_name) for m, _ in results)
        self.stdout.write(f"{'MODEL'.ljust(width)}  RESULT  {'CATEGORY'.ljust(28)} {'MS':>6}  MESSAGE")
        failed = 0
        for model_, result in results:
            record_test(model_, result, None)
            failed += not result["ok"]
            status = "ok" if result["ok"] else "FAIL"
            self.stdout.write(
                f"{model_.display_name.ljust(width)}  {status.ljust(6)}  {(result['category'] or '-').ljust(28)} "
                f"{result['latency_ms']:>6}  {result['message'][:120]}"
            )
        if failed:
            raise CommandError(f"{failed} of {len(results)} model(s) failed")
        self.stdout.write(f"All {len(results)} model(s) answered.")
