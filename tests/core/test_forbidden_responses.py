"""A 403 is one log line without a traceback, and a script asking for JSON gets JSON."""

import io
import logging

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def stdout_log(fn):
    """What the console's stdout log handler writes while fn runs."""
    handler = logging.getLogger("django").handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        fn()
    finally:
        handler.setStream(previous)
    return buffer.getvalue()


def test_a_403_is_one_log_line(member_client):
    out = stdout_log(lambda: member_client.get(reverse("audit_log")))
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and "Forbidden" in lines[0] and "/settings/audit/" in lines[0]
    assert "Traceback" not in out


def test_a_403_for_a_script_is_json(member_client):
    response = member_client.post(reverse("model_test_form"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and "errors" in response.json()
