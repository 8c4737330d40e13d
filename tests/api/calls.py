"""Calls to /v1/ as a script makes them: a key in the Authorization header, JSON bodies."""

import json

from django.test import Client


def api(key=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(raise_request_exception=False, **headers)


def post(c, path, body):
    return c.post(path, body if isinstance(body, (str, bytes)) else json.dumps(body), content_type="application/json")
