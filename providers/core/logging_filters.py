"""Log filters: a refused request is one line in the log, not a traceback."""

import logging


class ForbiddenOneLine(logging.Filter):
    """Django logs a PermissionDenied with its traceback; a 403 is an expected event, so keep its one line."""

    def filter(self, record):
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
