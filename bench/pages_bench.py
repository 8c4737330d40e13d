"""How long the provider page and the playground page take with a large history: 500 models, 100,000 runs.

The data go into a database of their own (SQLite in a temporary folder, or DATABASE_URL if set, e.g. a scratch
PostgreSQL database); the pages are rendered in this process by Django's test client, signed in, warm. Prints
median and p90 of each page and its query count; asserts nothing.

Run: .venv/bin/python bench/pages_bench.py [--models 500] [--runs 100000] [--repeat 20]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="pages-bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="pages-bench-" + "x" * 40,
        DATA_DIR=tmp,
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/console.sqlite3")
    from providers.core.crypto import generate_key

    os.environ["ENCRYPTION_KEYS"] = generate_key("bench")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from providers.core import roles
    from providers.models import HFModel, PlaygroundRun, RunStatus

    call_command("migrate", verbosity=0)
    User = django.contrib.auth.get_user_model()
    admin = User.objects.create_user("admin", "a@example.com", "bench-password-123456")
    roles.set_role(admin, roles.ADMIN)
    models = HFModel.objects.bulk_create(
        HFModel(display_name=f"model {i:04}", endpoint_type="hosted_api", task="text-generation", repo_id=f"o/m{i}")
        for i in range(args.models)
    )
    now = timezone.now()
    rng = random.Random(1)
    statuses = [RunStatus.OK] * 8 + [RunStatus.FAILED]
    batch = []
    for i in range(args.runs):
        model = models[i % len(models)]
        batch.append(
            PlaygroundRun(
                user=admin,
                model=model,
                model_name=model.display_name,
                status=rng.choice(statuses),
                latency_ms=rng.uniform(50, 3000),
            )
        )
        if len(batch) == 5000:
            PlaygroundRun.objects.bulk_create(batch)
            batch = []
    PlaygroundRun.objects.bulk_create(batch)
    # spread over the last 30 days (auto_now_add wrote "now")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM providers_playgroundrun")
        ids = [row[0] for row in cursor.fetchall()]
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        age = timedelta(days=rng.uniform(0, 29.9))
        PlaygroundRun.objects.filter(pk__in=chunk).update(created_at=now - age)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    client = Client()
    client.force_login(admin)
    print(f"{connection.vendor}: {args.models} models, {args.runs} runs in the last 30 days")
    for name, url in [("provider page", "/settings/providers/huggingface/"), ("playground page", "/playground/")]:
        client.get(url)
        times = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        times.sort()
        if name == "provider page":
            from providers.playground.runs import usage_by_model

            first_page = list(HFModel.objects.order_by("display_name").values_list("pk", flat=True)[:50])
            started = time.perf_counter()
            usage_by_model(first_page)
            usage_ms = (time.perf_counter() - started) * 1000
            print(f"  of which usage_by_model for its 50 models: {usage_ms:.1f} ms")
        print(
            f"{name:<16} median {statistics.median(times):7.1f} ms   p90 {times[int(len(times) * 0.9)]:7.1f} ms   "
            f"{len(queries.captured_queries)} queries"
        )


if __name__ == "__main__":
    main()
