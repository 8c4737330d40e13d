"""Test connection's steps say what happened to each check: a test that passes shows no step as failed."""

import pytest

from providers.settings_screen.connection_test import run_test
from tests.conftest import create_model

pytestmark = pytest.mark.django_db

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def test_a_passing_test_marks_every_step_passed_when_the_hubs_mapping_lags_the_router(hf, provider_token):
    # The Hub's model card still lists the provider as staging; the router's catalog (which routes) has it live.
    hf.models[LLAMA]["_hub_mapping"] = {
        "together": {"status": "staging", "providerId": LLAMA, "task": "conversational"}
    }
    model = create_model(endpoint_type="inference_providers", task="chat", repo_id=LLAMA)
    result = run_test(model)
    assert result["ok"], result
    steps = {step["name"]: step for step in result["steps"]}
    assert steps["Providers"] == {"name": "Providers", "ok": True, "detail": "live: together"}
    assert all(step["ok"] for step in result["steps"])
