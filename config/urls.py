from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.debug import sensitive_post_parameters

urlpatterns = [
    path(
        "accounts/login/",
        sensitive_post_parameters("password")(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("providers.urls")),
]

handler400 = "providers.core.error_pages.bad_request"
handler403 = "providers.core.error_pages.permission_denied"
handler404 = "providers.core.error_pages.page_not_found"
handler500 = "providers.core.error_pages.server_error"
