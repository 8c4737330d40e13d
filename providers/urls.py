from django.urls import path

from providers import account_views, playground_views, views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("setup/", account_views.setup, name="setup"),
    path("healthz", account_views.healthz, name="healthz"),
    path("favicon.ico", account_views.favicon, name="favicon"),
    path("people/", account_views.people, name="people"),
    path("people/<int:user_id>/role/", account_views.person_role, name="person_role"),
    path("people/<int:user_id>/active/", account_views.person_active, name="person_active"),
    path("settings/providers/", views.provider_list, name="provider_list"),
    path("settings/providers/huggingface/", views.huggingface, name="huggingface"),
    path("settings/providers/huggingface/token/", views.provider_token, name="provider_token"),
    path("settings/providers/huggingface/models/new/", views.model_add, name="model_add"),
    path("settings/providers/huggingface/models/test/", views.model_test_form, name="model_test_form"),
    path("settings/providers/huggingface/models/<int:pk>/", views.model_detail, name="model_detail"),
    path("settings/providers/huggingface/models/<int:pk>/edit/", views.model_edit, name="model_edit"),
    path("settings/providers/huggingface/models/<int:pk>/toggle/", views.model_toggle, name="model_toggle"),
    path("settings/providers/huggingface/models/<int:pk>/delete/", views.model_delete, name="model_delete"),
    path("settings/providers/huggingface/models/<int:pk>/test/", views.model_test, name="model_test"),
    path("settings/providers/huggingface/export/", views.export, name="models_export"),
    path("settings/providers/huggingface/import/", views.import_view, name="models_import"),
    path("settings/audit/", views.audit_log, name="audit_log"),
    path("playground/", playground_views.playground, name="playground"),
    path("playground/compare/", playground_views.compare, name="compare"),
    path("playground/run/", playground_views.run, name="playground_run"),
    path("playground/runs/<int:pk>/", playground_views.run_detail, name="run_detail"),
    path("playground/runs/<int:pk>/delete/", playground_views.run_delete, name="run_delete"),
]
