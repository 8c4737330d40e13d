from django.urls import path, re_path

from providers.accounts import views as account_views
from providers.api import key_views
from providers.api import responses as api_responses
from providers.api import vectors as api_vectors
from providers.api import views as api_views
from providers.playground import views as playground_views
from providers.settings_screen import pickers as picker_views
from providers.settings_screen import views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("setup/", account_views.setup, name="setup"),
    path("healthz", account_views.healthz, name="healthz"),
    path("favicon.ico", account_views.favicon, name="favicon"),
    path("people/", account_views.people, name="people"),
    path("people/<int:user_id>/role/", account_views.person_role, name="person_role"),
    path("people/<int:user_id>/active/", account_views.person_active, name="person_active"),
    path("people/<int:user_id>/unlock/", account_views.person_unlock, name="person_unlock"),
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
    path("settings/providers/huggingface/models/search/", picker_views.model_search, name="hub_model_search"),
    path("settings/providers/huggingface/endpoints/", picker_views.endpoint_list, name="endpoint_list"),
    path("settings/providers/huggingface/endpoints/state/", picker_views.endpoint_state, name="endpoint_state"),
    path("settings/providers/huggingface/endpoints/start/", picker_views.endpoint_start, name="endpoint_start"),
    path(
        "settings/providers/huggingface/models/<int:pk>/endpoint/", picker_views.model_endpoint, name="model_endpoint"
    ),
    path("settings/providers/huggingface/export/", views.export, name="models_export"),
    path("settings/providers/huggingface/import/", views.import_view, name="models_import"),
    path("settings/audit/", views.audit_log, name="audit_log"),
    path("playground/", playground_views.playground, name="playground"),
    path("playground/compare/", playground_views.compare, name="compare"),
    path("playground/run/", playground_views.run, name="playground_run"),
    path("playground/vectors/", playground_views.vector_run, name="playground_vectors"),
    path("playground/models/<int:pk>/defaults/", playground_views.model_defaults, name="model_defaults"),
    path("playground/runs/<int:pk>/", playground_views.run_detail, name="run_detail"),
    path("playground/runs/<int:pk>/stop/", playground_views.run_stop, name="run_stop"),
    path("playground/runs/<int:pk>/delete/", playground_views.run_delete, name="run_delete"),
    path("account/", key_views.account, name="account"),
    path("account/keys/<int:pk>/revoke/", key_views.key_revoke, name="key_revoke"),
    path("settings/api-keys/", key_views.admin_keys, name="api_keys_admin"),
    path("settings/api-keys/<int:pk>/revoke/", key_views.admin_key_revoke, name="api_key_admin_revoke"),
    path("settings/api-keys/<int:pk>/limits/", key_views.admin_key_limits, name="api_key_admin_limits"),
    path("v1/models", api_views.models, name="api_models"),
    path("v1/models/<path:model_id>", api_views.model, name="api_model"),
    path("v1/chat/completions", api_views.chat_completions, name="api_chat_completions"),
    path("v1/completions", api_views.completions, name="api_completions"),
    path("v1/responses", api_responses.responses, name="api_responses"),
    re_path(r"^v1/responses/(?P<rest>.+)$", api_responses.stored, name="api_stored_response"),
    path("v1/embeddings", api_vectors.embeddings, name="api_embeddings"),
    path("v1/rerank", api_vectors.rerank, name="api_rerank"),
    re_path(r"^v1(?:/(?P<rest>.*))?$", api_views.not_found, name="api_not_found"),
]
