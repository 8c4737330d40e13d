"""/v1/ limits hold per key and per person, a stream's slot is always released, limit files are never links."""

from providers.api import catalog, keys
from providers.core import quota_stores, quotas
from tests.api.calls import api, post


def chat_body(**extra):
    return {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **extra}


def test_a_stream_that_fails_with_an_unexpected_exception_does_not_keep_its_stream_slot(
    hf, member_user, chat_model, settings, tmp_path
):
    """views._generate takes a stream slot, then only releases it on HFError; any other exception before the
    EventStreamResponse exists (here the estimated_time defect) leaks the flock'd slot until the worker
    process dies, and the key is refused every stream once max_streams slots are gone."""
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "one stream")
    key.max_streams = 1
    key.save()
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    hf.fault(r"chat/completions", "loading", times=1, estimated_time="soon")
    post(api(raw), "/v1/chat/completions", body)  # 500 today
    response = post(api(raw), "/v1/chat/completions", body)
    assert response.status_code == 200, response.content[:200]


def test_a_defect_before_the_stream_starts_releases_its_slot(
    hf, member_user, chat_model, settings, tmp_path, monkeypatch
):
    """Independent of any client defect (the reviewer's test uses one that the run-integrity branch fixes)."""
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "one stream")
    key.max_streams = 1
    key.save()
    real = catalog.target
    monkeypatch.setattr(catalog, "target", lambda entry, deadline: 1 / 0)
    assert post(api(raw), "/v1/chat/completions", chat_body(stream=True)).status_code == 500
    monkeypatch.setattr(catalog, "target", real)
    response = post(api(raw), "/v1/chat/completions", chat_body(stream=True))
    assert response.status_code == 200, response.content[:200]
    b"".join(response.streaming_content)


def test_a_member_cannot_escape_a_lowered_key_limit_by_creating_another_key(
    hf, member_user, member_client, chat_model, settings, tmp_path
):
    """Limits live on the key only and a member may create any number of keys: when an admin lowers a key's
    requests per minute (or streams), its owner creates a fresh key on /account/ and gets the defaults again."""
    import re

    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.requests_per_minute = 1
    key.save()
    body = {"model": "llama-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert post(api(raw), "/v1/chat/completions", body).status_code == 200
    assert post(api(raw), "/v1/chat/completions", body).status_code == 429
    page = member_client.post("/account/", {"name": "fresh", "expires_in_days": ""}).content.decode()
    fresh = re.search(r"hfc_[A-Za-z0-9_-]{40,}", page).group(0)
    assert post(api(fresh), "/v1/chat/completions", body).status_code == 429


def test_a_lowered_stream_limit_holds_for_a_fresh_key_too(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.max_streams = 1
    key.save()
    first = post(api(raw), "/v1/chat/completions", chat_body(stream=True))
    assert first.status_code == 200
    fresh = keys.create(member_user, "fresh")[1]
    refused = post(api(fresh), "/v1/chat/completions", chat_body(stream=True))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_streams"
    b"".join(first.streaming_content)  # ends the first stream: its slots, the key's and the person's, are freed
    again = post(api(fresh), "/v1/chat/completions", chat_body(stream=True))
    assert again.status_code == 200
    b"".join(again.streaming_content)


def test_revoking_the_lowered_key_does_not_lift_its_owners_limit(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "throttled")
    key.requests_per_minute = 1
    key.save()
    assert post(api(raw), "/v1/chat/completions", chat_body()).status_code == 200
    keys.revoke(key)
    fresh = keys.create(member_user, "fresh")[1]
    assert post(api(fresh), "/v1/chat/completions", chat_body()).status_code == 429


def test_an_unlimited_key_sets_no_limit_for_its_owner(hf, member_user, chat_model, settings, tmp_path):
    settings.API_LIMITS_DIR = tmp_path / "limits"
    settings.API_REQUESTS_PER_MINUTE = 2
    key, raw = keys.create(member_user, "batch")
    key.requests_per_minute = 0
    key.save()
    other = keys.create(member_user, "other")[1]
    for _ in range(4):
        assert post(api(raw), "/v1/chat/completions", chat_body()).status_code == 200
    assert post(api(other), "/v1/chat/completions", chat_body()).status_code == 200


def test_a_refused_call_writes_no_row(hf, member_user, chat_model, settings, tmp_path):
    from providers.models import APICall

    settings.API_LIMITS_DIR = tmp_path / "limits"
    key, raw = keys.create(member_user, "k")
    key.requests_per_minute = 1
    key.save()
    c = api(raw)
    assert post(c, "/v1/chat/completions", chat_body()).status_code == 200
    for _ in range(5):
        assert post(c, "/v1/chat/completions", chat_body()).status_code == 429
    assert APICall.objects.count() == 1


def test_limit_files_do_not_follow_a_planted_symlink(member_user, settings, tmp_path, file_counters):
    """The file store makes API_LIMITS_DIR 0700 only when it creates it, and os.open(..., O_CREAT) follows
    symlinks: with API_LIMITS_DIR outside the private DATA_DIR (as .env.example suggests) and open to others, a
    local user who plants key-<id>-<prefix>.rate -> any file of the console's user gets it overwritten."""
    import os

    from providers.api import limits

    shared = tmp_path / "limits"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    settings.API_LIMITS_DIR = shared
    key, raw = keys.create(member_user, "victim")
    victim = tmp_path / "victim.sqlite3"
    victim.write_bytes(b"SQLite format 3\x00 precious")
    os.symlink(victim, shared / f"key-{key.pk}-{key.prefix}.rate")
    caller = keys.lookup(raw, 1)
    limits.take_request(caller)
    assert victim.read_bytes().startswith(b"SQLite format 3"), victim.read_bytes()[:40]


def test_a_planted_hard_link_is_replaced_not_written_through(member_user, settings, tmp_path, file_counters):
    import os

    from providers.api import limits

    settings.API_LIMITS_DIR = tmp_path / "limits"
    settings.API_LIMITS_DIR.mkdir()
    key, raw = keys.create(member_user, "victim")
    victim = tmp_path / "victim.sqlite3"
    victim.write_bytes(b"SQLite format 3\x00 precious")
    os.link(victim, settings.API_LIMITS_DIR / f"key-{key.pk}-{key.prefix}.rate")
    limits.take_request(keys.lookup(raw, 1))
    assert victim.read_bytes() == b"SQLite format 3\x00 precious"
    assert os.stat(settings.API_LIMITS_DIR / f"key-{key.pk}-{key.prefix}.rate").st_nlink == 1


def test_limits_out_of_reach_answer_503_not_500(hf, member_user, member_client, chat_model, hosted_model):
    """A Redis that holds the limits and has stopped: the call is refused as unavailable, with a retry hint."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    gone = redis.Redis(port=9, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    quotas.use(quota_stores.RedisStore(gone, lambda kind, name: f"{kind}:{name}"))
    try:
        response = post(api(keys.create(member_user, "k")[1]), "/v1/chat/completions", chat_body())
        assert response.status_code == 503 and response["Retry-After"] == "5"
        assert response.json()["error"]["code"] == "limits_unavailable"
        member_client.raise_request_exception = False
        run = member_client.post(
            "/playground/run/", {"model": hosted_model.pk, "prompt": "Why"}, HTTP_ACCEPT="application/json"
        )
        assert run.status_code == 503 and "limits" in run.json()["errors"]["__all__"][0]["message"]
    finally:
        quotas.use(None)
