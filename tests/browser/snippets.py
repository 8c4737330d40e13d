"""The playground's code snippets as a person uses them: a key made on the account page (its one-time display),
and a snippet run as shown, with that key in CONSOLE_API_KEY."""

import subprocess
import sys

PYTHON = (sys.executable, "-c")
SHELL = ("bash", "-c")


def new_key(page, name="snippet"):
    """A key created on the account page, as shown once."""
    page.goto("/account/")
    page.fill("#id_name", name)
    page.click("#new-key-form button[type=submit]")
    return page.locator("#new-key-value").inner_text()


def run_snippet(code, key, command=PYTHON, cwd=None):
    """What `code` printed, run as shown (Python, or `command=SHELL` for curl); it must exit 0."""
    result = subprocess.run(
        [*command, code],
        cwd=cwd,
        env={"CONSOLE_API_KEY": key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (code, result.stderr)
    return result.stdout
