"""Error pages in the console's layout (never a traceback, never request data)."""

from django.shortcuts import render


def _page(request, status, title):
    return render(request, "error.html", {"status": status, "title": title}, status=status)


def bad_request(request, exception=None):
    return _page(request, 400, "bad_request")


def permission_denied(request, exception=None):
    return _page(request, 403, "forbidden")


def page_not_found(request, exception=None):
    return _page(request, 404, "not_found")


def server_error(request):
    return _page(request, 500, "server_error")
