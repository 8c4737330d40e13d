"""A scaled-to-zero or starting Inference Endpoint is woken by the request that needs it, within
HF_SCALE_UP_TIMEOUT; a paused one is not (hf-protocol.md §5, §9.6, §20), against the emulator's proxy."""

import time

import pytest

from providers.huggingface import generation, transport
from providers.huggingface.errors import HFError
from providers.huggingface.reader import IDLE
from tests.conftest import TOKEN
from tests.hf_emulator import Emulator


def endpoint(hf, name="tgi", wake=30):
    return generation.Target(
        "inference_endpoint", "text-generation", endpoint_url=f"{hf.base}/ep/{name}", scale_up_timeout=wake
    )


def generate(target, stream=True, deadline=None):
    return generation.generate(
        target, {"max_new_tokens": 4}, prompt="Why is the sky blue", stream=stream, deadline=deadline
    )


def endpoint_requests(hf, name="tgi"):
    return [r for r in hf.requests if r["path"].startswith(f"/ep/{name}")]


@pytest.mark.parametrize("stream", [True, False])
def test_a_scaled_to_zero_endpoint_wakes_and_answers(hf, stream):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=1.5)
    deadline = transport.Deadline(10)
    seen_waking = []
    items = []
    for item in generate(endpoint(hf), stream=stream, deadline=deadline):
        if item is IDLE and deadline.waking_since is not None:
            seen_waking.append(time.monotonic() - deadline.waking_since)
        items.append(item)
    assert items[-1].text.endswith("The sky is blue")
    assert seen_waking, "the wait was not visible as waking"
    sent = endpoint_requests(hf)
    # The first request goes without the header (its 503 starts the replica), the next holds with it.
    assert "X-Scale-Up-Timeout" not in sent[0]["headers"]
    assert 1 <= int(sent[1]["headers"]["X-Scale-Up-Timeout"]) <= 30
    assert deadline.waking_since is None
    # The time spent waking was added to the deadline, the unused budget given back.
    assert 10 + 1 <= deadline.seconds < 10 + 3


def test_an_initializing_endpoint_is_waited_for_too(hf):
    hf.add_endpoint("tgi", state="initializing", wake_seconds=1.0)
    items = list(generate(endpoint(hf)))
    assert items[-1].text.endswith("The sky is blue")


def test_a_paused_endpoint_is_not_woken(hf):
    hf.add_endpoint("tgi", state="paused")
    started = time.monotonic()
    with pytest.raises(HFError) as info:
        list(generate(endpoint(hf)))
    assert info.value.category == "endpoint_paused"
    assert time.monotonic() - started < 2
    assert len(endpoint_requests(hf)) == 1
    assert hf.endpoints["tgi"]["state"] == "paused"


def test_an_endpoint_that_never_wakes_ends_within_the_scale_up_bound(hf):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    started = time.monotonic()
    with pytest.raises(HFError) as info:
        list(generate(endpoint(hf, wake=2)))
    took = time.monotonic() - started
    assert info.value.category == "endpoint_waking" and info.value.http_status == 503
    assert "2 seconds" in info.value.message
    assert 2 <= took < 5


def test_without_a_wake_budget_the_503_is_the_answer(hf):
    """Where waking does not apply (another server than Hugging Face's proxy), one request and its 503."""
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=0.2)
    with pytest.raises(HFError) as info:
        list(generate(endpoint(hf, wake=0)))
    assert info.value.category == "endpoint_paused_or_starting"
    assert len(endpoint_requests(hf)) == 1


def test_a_server_elsewhere_gets_no_scale_up_header(hf, settings):
    settings.PROVIDER_TOKEN_HOSTS = []  # a second emulator on another port: no host of Hugging Face's
    elsewhere = Emulator().start()
    try:
        elsewhere.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=0.2)
        with pytest.raises(HFError) as info:
            list(generate(endpoint(elsewhere)))
        assert info.value.category == "endpoint_paused_or_starting"
        assert len(endpoint_requests(elsewhere)) == 1
        assert "X-Scale-Up-Timeout" not in endpoint_requests(elsewhere)[0]["headers"]
    finally:
        elsewhere.stop()


def test_a_stopped_generation_stops_waking(hf):
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    deadline = transport.Deadline(10)
    chunks = generate(endpoint(hf, wake=30), deadline=deadline)
    for _item in chunks:
        if deadline.waking_since is not None:
            break
    started = time.monotonic()
    chunks.close()
    assert time.monotonic() - started < 2
    count = len(endpoint_requests(hf))
    time.sleep(2.5)
    assert len(endpoint_requests(hf)) <= count + 1  # no request after the stop (one may have been on its way)


@pytest.mark.parametrize("stream", [True, False])
def test_a_wake_longer_than_the_operations_deadline_does_not_use_it_up(hf, stream):
    """The wait for the endpoint is the scale-up limit's, not the generation's: the deadline grows by it."""
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=2.5)
    items = list(generate(endpoint(hf, wake=8), stream=stream, deadline=transport.Deadline(1.5)))
    assert items[-1].text.endswith("The sky is blue")


def test_an_expired_hold_is_asked_again_within_the_bound(hf, settings):
    settings.HF_READ_TIMEOUT = 4  # holds of at most 2 s: a whole answer forwarded at a hold's end has 2 s to begin
    hf.add_endpoint("tgi", state="scaled_to_zero", wake_seconds=None)
    started = time.monotonic()
    with pytest.raises(HFError) as info:
        list(generate(endpoint(hf, wake=5)))
    assert info.value.category == "endpoint_waking" and 5 <= time.monotonic() - started < 7
    holds = [r["headers"].get("X-Scale-Up-Timeout") for r in endpoint_requests(hf)]
    assert holds[0] is None and len(holds) >= 3
    assert all(1 <= int(hold) <= 2 for hold in holds[1:])


def test_an_engines_own_503_is_not_taken_for_a_sleeping_endpoint(hf):
    """A JSON error body is an engine's answer (it runs): no wait for a wake that is not coming."""
    hf.fault(r"/ep/tgi", "status", status=503, body={"error": "overloaded"}, times=1)
    with pytest.raises(HFError) as info:
        list(generate(endpoint(hf)))
    assert info.value.http_status == 503
    assert [r for r in endpoint_requests(hf) if "X-Scale-Up-Timeout" in r["headers"]] == []


def test_a_failed_endpoint_is_said_to_have_failed_at_once_when_the_control_plane_knows_it(hf):
    """The proxy answers a failed endpoint as it answers a cold one; the control plane tells them apart. Whether a
    failed endpoint's record keeps its URL is not documented: where it does, the failure is named at once."""
    hf.add_control_endpoint("alice", "broken", state="failed", url_when_failed=True)
    target = generation.Target(
        "inference_endpoint", "text-generation", endpoint_url=f"{hf.base}/ep/broken", token=TOKEN, scale_up_timeout=30
    )
    started = time.monotonic()
    with pytest.raises(HFError) as info:
        list(generate(target))
    assert info.value.category == "endpoint_failed" and "Endpoint failed to deploy" in info.value.message
    assert time.monotonic() - started < 5  # not the 30 s of waking


def test_without_the_url_in_the_control_plane_a_failed_endpoint_ends_as_still_waking(hf):
    hf.add_control_endpoint("alice", "broken", state="failed")
    target = generation.Target(
        "inference_endpoint", "text-generation", endpoint_url=f"{hf.base}/ep/broken", token=TOKEN, scale_up_timeout=2
    )
    with pytest.raises(HFError) as info:
        list(generate(target))
    assert info.value.category == "endpoint_waking"
