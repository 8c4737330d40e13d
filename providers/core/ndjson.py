"""Newline-delimited JSON, the format of every answer the console's pages read as it streams (runs, tests)."""

import json


def line(event):
    return (json.dumps(event, ensure_ascii=False) + "\n").encode()
