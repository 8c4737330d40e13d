"""Log filters: a refused request, or one refused because the database is down, is one line in the log, not a
traceback."""

import logging


class ForbiddenOneLine(logging.Filter):
    """Django logs a PermissionDenied with its traceback; a 403 is an expected event, so keep its one line."""

    def filter(self, record):
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True


class UnreachableDatabaseOneLine(logging.Filter):
    """While the database is down every request answers 503 (core.error_pages); one line each, with the reason,
    instead of a traceback each, which would bury whatever else the log says meanwhile."""

    def filter(self, record):
        exc = record.exc_info[1] if getattr(record, "status_code", None) == 503 and record.exc_info else None
        if exc is not None:
            from providers.core import db  # not at start-up: logging is configured before the apps are ready

            if db.unreachable(exc):
                record.msg = f"{record.msg} (%s)"
                record.args = (*(record.args or ()), str(exc).strip().splitlines()[0] if str(exc).strip() else "")
                record.exc_info = None
                record.exc_text = None
        return True
