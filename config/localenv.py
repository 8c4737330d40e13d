"""Write a local .env with a generated SECRET_KEY and encryption key when they are missing (first run).

Run with the project's virtualenv: `python -m config.localenv`. Existing values are never replaced.
"""

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def main(path=BASE_DIR / ".env"):
    sys.path.insert(0, str(BASE_DIR))
    from providers.core.crypto import generate_key

    existing = path.read_text() if path.exists() else ""
    names = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    additions = []
    if "SECRET_KEY" not in names and "SECRET_KEY" not in os.environ:
        additions.append(f"SECRET_KEY={secrets.token_urlsafe(50)}")
    if "ENCRYPTION_KEYS" not in names and "ENCRYPTION_KEYS" not in os.environ:
        additions.append(f"ENCRYPTION_KEYS={generate_key()}")  # a random id: another machine's key never shares it
    if additions:
        text = existing + ("" if not existing or existing.endswith("\n") else "\n") + "\n".join(additions) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        print(
            f"Wrote {', '.join(a.split('=')[0] for a in additions)} to {path} (mode 600). "
            "Back up this file: without its ENCRYPTION_KEYS the stored tokens cannot be read."
        )
    if path.exists():
        os.chmod(path, 0o600)


if __name__ == "__main__":
    main()
