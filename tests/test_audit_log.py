"""The audit log page: human action titles in both languages, readable changes, pages of 25."""

from django.urls import reverse
from django.utils import translation

from providers import audit
from providers.display import ACTION_TITLES
from providers.models import AuditEntry
from tests.conftest import create_model


def test_every_action_recorded_by_the_code_has_a_title_in_both_languages():
    import pathlib
    import re

    source = "".join(p.read_text() for p in pathlib.Path("providers").rglob("*.py"))
    recorded = set(re.findall(r'"((?:model|models|provider|person|account|api_key|endpoint)\.[a-z_]+)"', source))
    recorded |= {"endpoint.resume", "endpoint.wake"}  # recorded as f"endpoint.{action}" (endpoints_api.start)
    assert recorded <= set(ACTION_TITLES), recorded - set(ACTION_TITLES)
    for title in ACTION_TITLES.values():
        english = str(title)
        with translation.override("zh-hans"):
            assert str(title) != english


def test_audit_rows_read_as_sentences_not_codes(admin_client, db):
    model = create_model()
    audit.record(
        None, "model.update", model, {"enabled": {"from": True, "to": False}, "top_k": {"from": None, "to": 5}}
    )
    audit.record(None, "model.test", model, {"model": "flan", "ok": False, "category": "model_not_served"})
    page = admin_client.get(reverse("audit_log")).content.decode()
    assert "Model changed" in page and "Connection tested" in page
    assert "Enabled: yes → no" in page and "Top-k: — → 5" in page
    assert "Result: failed" in page and "Problem: Not served here" in page
    for raw in ("model.update</", "None", "True", "False", "model_not_served<"):
        assert raw not in page
    admin_client.post(reverse("set_language"), {"language": "zh-hans"})
    chinese = admin_client.get(reverse("audit_log")).content.decode()
    assert "已修改模型" in chinese and "已测试连接" in chinese


def test_audit_log_has_pages_of_25_and_filters_keep_across_pages(admin_client, db):
    AuditEntry.objects.bulk_create([AuditEntry(action="model.test", target_repr=f"m{i}") for i in range(60)])
    first = admin_client.get(reverse("audit_log")).content.decode()
    assert first.count('data-action="model.test"') == 25 and "Page 1 of 3" in first
    third = admin_client.get(reverse("audit_log"), {"page": 3, "action": "model.test"}).content.decode()
    assert third.count('data-action="model.test"') == 10 and "action=model.test" in third
