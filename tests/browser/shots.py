"""Screenshots the browser tests keep for people to look at: `make screenshots` sets SCREENSHOTS_DIR, and a test
that reaches a screen worth seeing (a tool call answered, a heat map, an endpoint waking) saves it there."""

import os


def keep(page, name):
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)
