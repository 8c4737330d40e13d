"""Response time of the model picker's search view against the emulator: cold (cache empty), warm (cached),
and what the admin waits when the Hub is slow, slower than HF_PICKER_TIMEOUT, or down. Prints milliseconds.

Run: .venv/bin/python bench/picker_bench.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DATABASE_URL"] = "sqlite://:memory:"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from providers.models import ProviderSettings  # noqa: E402
from providers.settings_screen.pickers import model_search  # noqa: E402
from tests.conftest import TOKEN  # noqa: E402
from tests.hf_emulator import Emulator  # noqa: E402

ROUNDS = 200


def timed(request_factory, user, query):
    request = request_factory.get("/search", {"q": query, "task": "chat"})
    request.user = user
    started = time.perf_counter()
    response = model_search(request)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    return elapsed, response


def summary(name, samples):
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<44} n={len(samples):<4} median {statistics.median(samples):8.1f} ms   p99 {p99:8.1f} ms")


def main():
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    emu = Emulator().start()
    settings.HF_HUB_URL, settings.HF_ROUTER_URL = emu.hub_url, emu.router_url
    emu.add_token(TOKEN, name="alice", role="read")
    for n in range(60):
        emu.add_model(
            f"org{n % 6}/chat-model-{n:02d}",
            warm=n % 3 == 0,
            gated="manual" if n % 5 == 0 else False,
            granted={"alice"},
            providers={"together": "live", "groq": "live"} if n % 2 else {},
            tags=["transformers", "conversational"],
        )
    provider = ProviderSettings.load()
    provider.set_secret("api_token", TOKEN)
    provider.save()
    user = get_user_model()(username="bench", is_superuser=True, is_active=True)
    rf = RequestFactory()

    cold = []
    for i in range(ROUNDS):
        cache.clear()
        cold.append(timed(rf, user, f"chat-model-{i % 60:02d}")[0])
    summary("cold: search + catalog + access checks", cold)
    warm = [timed(rf, user, "chat-model-1")[0] for _ in range(ROUNDS)]
    summary("warm: answered from the Django cache", warm)

    emu.response_delay = 1.0
    slow = []
    for i in range(5):
        cache.clear()
        slow.append(timed(rf, user, f"chat-model-{i}")[0])
    summary("Hub answers each request after 1 s", slow)

    emu.response_delay = 10.0
    stalled = []
    for i in range(3):
        cache.clear()
        elapsed, response = timed(rf, user, f"chat-model-{i}")
        stalled.append(elapsed)
    summary(f"Hub stalls 10 s (HF_PICKER_TIMEOUT={settings.HF_PICKER_TIMEOUT:g} s)", stalled)
    print("   answer:", response.content.decode()[:160])
    emu.response_delay = 0

    settings.HF_HUB_URL = settings.HF_ROUTER_URL = "http://127.0.0.1:9"
    down = []
    for i in range(20):
        cache.clear()
        elapsed, response = timed(rf, user, f"chat-model-{i}")
        down.append(elapsed)
    summary("Hub down (connection refused)", down)
    print("   answer:", response.content.decode()[:160])
    emu.stop()


if __name__ == "__main__":
    main()
