"""A database that cannot be reached makes every request a 503 (the served PostgreSQL test times them); each is one
line in the log with the reason, not a traceback that would bury everything else the log says meanwhile."""

import logging

from django.db import DatabaseError, OperationalError, ProgrammingError


def _record_of_a_503(exc):
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "%s: %s", ("Service Unavailable", "/"), None
    )
    record.status_code = 503
    try:
        raise exc
    except DatabaseError as raised:
        record.exc_info = (type(raised), raised, raised.__traceback__)
    return record


def test_a_503_for_an_unreachable_database_is_one_log_line_with_the_reason():
    record = _record_of_a_503(OperationalError("unable to open database file"))
    filters = logging.getLogger("django").handlers[0].filters
    assert all(f.filter(record) for f in filters)
    assert record.exc_info is None
    assert record.getMessage() == "Service Unavailable: / (unable to open database file)"


def test_other_failures_keep_their_traceback():
    record = _record_of_a_503(ProgrammingError('relation "providers_hfmodel" does not exist'))
    filters = logging.getLogger("django").handlers[0].filters
    assert all(f.filter(record) for f in filters)
    assert record.exc_info is not None
