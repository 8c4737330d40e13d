"""A playground run answered by the test, not the console: the page's request for a run gets these NDJSON lines,
as the console streams them, so a screen can be shown a case no upstream produces on cue."""

import json


def answer_runs_with(page, lines):
    body = "".join(json.dumps(line) + "\n" for line in lines)
    page.route(
        "**/playground/run/", lambda route: route.fulfill(status=200, content_type="application/x-ndjson", body=body)
    )
