"""No signed-in page is kept by a browser or proxy cache: admin pages, exports and the audit log hold
configuration and names that must not outlive the session on a shared computer."""


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response
