"""Cost of decrypting stored tokens: 1,000 tokens, each bound to its own row, repeated; prints milliseconds.

Run: .venv/bin/python bench/crypto_bench.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["SECRET_KEY"] = "bench-only"

from providers.core import crypto  # noqa: E402

os.environ["ENCRYPTION_KEYS"] = crypto.generate_key("bench")  # read when settings load, on first use below

COUNT = 1000
ROUNDS = 20


def main():
    items = [
        (crypto.encrypt(f"hf_{i:030d}", f"providers_hfmodel:{i}:api_token"), f"providers_hfmodel:{i}:api_token")
        for i in range(COUNT)
    ]
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for stored, context in items:
            crypto.decrypt(stored, context)
        timings.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    print(
        f"decrypt {COUNT} tokens: median {median:.2f} ms, min {min(timings):.2f} ms, max {max(timings):.2f} ms "
        f"over {ROUNDS} rounds ({median * 1000 / COUNT:.1f} µs per token)"
    )


if __name__ == "__main__":
    main()
