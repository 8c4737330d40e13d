"""Recorded Hugging Face exchanges (shared/hf-recordings/cassettes) replayed byte for byte through the client.

The replay server answers each request with the next recorded response of the same method, with the
recorded status, headers and body, so the client meets exactly what the real services sent.
"""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from providers.huggingface import adapters, generation, hub
from providers.huggingface.errors import HFError

RECORDINGS = Path(
    os.environ.get("HF_RECORDINGS_DIR") or Path(__file__).resolve().parents[3] / "shared" / "hf-recordings"
)
CASSETTES = RECORDINGS / "cassettes"
if not CASSETTES.exists():
    # CI clones the repo with shared/ beside it and must replay them; elsewhere point HF_RECORDINGS_DIR at them.
    if os.environ.get("CI"):
        raise RuntimeError(f"the recordings are missing at {CASSETTES}")
    pytest.skip(f"recordings not found at {CASSETTES} (set HF_RECORDINGS_DIR)", allow_module_level=True)

SKIP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class Replay:
    def __init__(self, name):
        data = yaml.safe_load((CASSETTES / name).read_text())
        self.interactions = data["interactions"]
        self.requests = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                replay.requests.append((self.command, self.path, body))
                recorded = replay.take(self.command)
                response = recorded["response"]
                payload = (response["body"]["string"] or "").encode()
                self.send_response(response["status"]["code"], response["status"]["message"])
                for key, values in response["headers"].items():
                    if key.lower() not in SKIP_HEADERS:
                        for value in values:
                            self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, method):
        for index, interaction in enumerate(self.interactions):
            if interaction["request"]["method"] == method:
                return self.interactions.pop(index)
        raise AssertionError(f"no recorded {method} left")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay(settings):
    opened = []

    def start(name):
        r = Replay(name)
        opened.append(r)
        settings.HF_HUB_URL = r.base + "/hub"
        settings.HF_ROUTER_URL = r.base + "/router"
        settings.OUTBOUND_ALLOW_HTTP = True
        settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        return r

    yield start
    for r in opened:
        r.close()


def endpoint(r, task="text-generation"):
    return generation.Target("inference_endpoint", task, endpoint_url=r.base + "/models/x", token="hf_x")


def collect(target, stream=False, **kwargs):
    kwargs.setdefault("prompt", "test")
    return list(generation.generate(target, {"max_new_tokens": 1}, stream=stream, **kwargs))


def test_tgi_stream_without_space_and_with_details(replay):
    r = replay("hfhub-b7abb35_2025-01-23/TestTextGenerationClientVCR.test_generate_stream_with_details.yaml")
    chunks = collect(endpoint(r), stream=True)
    assert chunks[:-1] == [" "]
    assert chunks[-1].finish_reason == "length" and chunks[-1].generated_tokens == 1
    assert chunks[-1].server["x-compute-type"] == "2-a10-g"


def test_tgi_stream_event_without_index_field(replay):
    r = replay("hfhub-b7abb35_2025-01-23/test_async_generate_stream_with_details.yaml")
    chunks = collect(endpoint(r), stream=True)
    assert isinstance(chunks[-1], adapters.Finish) and chunks[-1].finish_reason


def test_tgi_validation_error_json(replay):
    r = replay("hfhub-b7abb35_2025-01-23/TestTextGenerationClientVCR.test_generate_validation_error.yaml")
    with pytest.raises(HFError) as info:
        collect(endpoint(r))
    assert info.value.category == "input_rejected" and info.value.http_status == 422
    assert info.value.message.startswith("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 1512")


def test_deserialize_error_plain_text(replay):
    r = replay("hfhub-2ab45e1_2024-07-24/InferenceClientVCRTest.test_unprocessable_entity_error.yaml")
    with pytest.raises(HFError) as info:
        collect(endpoint(r))
    assert info.value.category == "input_rejected"
    assert "invalid type: map, expected a string" in info.value.message


def test_pipeline_error_as_a_list(replay):
    r = replay("hfhub-34bb25d_2025-04-23/InferenceApiTest.test_inference_missing_input.yaml")
    info = hub.model_info("deepset/roberta-base-squad2", "hf_x")
    assert info["pipeline_tag"] == "question-answering"
    with pytest.raises(HFError) as error:
        collect(endpoint(r))
    assert error.value.category == "input_rejected" and "field required" in error.value.message


def test_router_401_without_token(replay):
    replay("hfhub-34bb25d_2025-04-23/TestInferenceClient.test_chat_completion_unprocessable_entity.yaml")
    info = hub.model_info("meta-llama/Meta-Llama-3-70B-Instruct", "hf_x")
    assert info["gated"] == "manual"
    target = generation.Target(
        "inference_providers", "chat", repo_id="meta-llama/Meta-Llama-3-70B-Instruct", token="hf_x"
    )
    with pytest.raises(HFError) as error:
        collect(target, messages=[{"role": "user", "content": "hi"}])
    assert error.value.category == "invalid_token" and error.value.message == "Invalid username or password."


def test_text2text_model_kwargs_error_then_success(replay):
    r = replay(
        "hfhub-34bb25d_2025-04-23/TestTextGenerationClientVCR.test_generate_non_tgi_endpoint_regression_test.yaml"
    )
    info = hub.model_info("google/flan-t5-large", "hf_x")
    assert info["pipeline_tag"] == "text2text-generation"
    target = generation.Target("hosted_api", "text2text-generation", repo_id="google/flan-t5-large", token="hf_x")
    chunks = list(
        generation.generate(
            target, {"max_new_tokens": 10, "return_full_text": False, "stop_sequences": ["x"]}, prompt="How are you?"
        )
    )
    assert chunks[-1].text == "I am at work"
    posts = [req for req in r.requests if req[0] == "POST"]
    assert len(posts) == 2
    assert posts[0][1] == "/router/hf-inference/models/google/flan-t5-large"
    assert "stop" not in json.loads(posts[1][2])["parameters"]


def test_provider_mapping_dict_form_and_together_stream(replay):
    replay(
        "hfhub-34bb25d_2025-04-23/TestInferenceClient.test_chat_completion_with_stream[together,conversational].yaml"
    )
    info = hub.model_info("meta-llama/Meta-Llama-3-8B-Instruct", "hf_x", expand=("inferenceProviderMapping",))
    assert hub.provider_mapping(info) == {"fireworks-ai": "staging", "together": "live", "hf-inference": "live"}
    target = generation.Target(
        "inference_providers", "chat", repo_id="meta-llama/Meta-Llama-3-8B-Instruct", token="hf_x"
    )
    chunks = collect(target, stream=True, messages=[{"role": "user", "content": "What is deep learning?"}])
    text = "".join(c for c in chunks if isinstance(c, str))
    assert text.startswith("Deep learning") and chunks[-1].finish_reason == "length"


def test_hf_inference_tgi3_chat_stream_with_space_and_done(replay):
    r = replay(
        "hfhub-34bb25d_2025-04-23/TestInferenceClient.test_chat_completion_with_stream[hf-inference,conversational].yaml"
    )
    info = hub.model_info("meta-llama/Llama-3.1-8B-Instruct", "hf_x")
    assert info["inference"] == "warm"
    chunks = collect(endpoint(r, "chat"), stream=True, messages=[{"role": "user", "content": "hi"}])
    assert "".join(c for c in chunks if isinstance(c, str))
    assert chunks[-1].finish_reason in ("length", "stop")


def test_tgi1_chat_no_stream_text_completion_object(replay):
    r = replay("hfhub-b7abb35_2025-01-23/InferenceClientVCRTest.test_chat_completion_no_stream.yaml")
    chunks = collect(endpoint(r, "chat"), messages=[{"role": "user", "content": "hi"}])
    assert chunks[-1].text and chunks[-1].generated_tokens


def test_tgi1_chat_stream_without_space_or_done(replay):
    r = replay("hfhub-b7abb35_2025-01-23/InferenceClientVCRTest.test_chat_completion_with_stream.yaml")
    chunks = collect(endpoint(r, "chat"), stream=True, messages=[{"role": "user", "content": "hi"}])
    assert len(chunks) > 2 and chunks[-1].finish_reason


def test_non_tgi_chat_eos_token_is_a_stop(replay):
    r = replay("hfhub-b7abb35_2025-01-23/InferenceClientVCRTest.test_chat_completion_with_non_tgi.yaml")
    chunks = collect(endpoint(r, "chat"), messages=[{"role": "user", "content": "hi"}])
    assert chunks[-1].finish_reason == "stop"


def test_summarization_answer_is_a_wrong_task(replay):
    r = replay("hfhub-b7abb35_2025-01-23/InferenceClientVCRTest.test_summarization.yaml")
    with pytest.raises(HFError) as info:
        collect(endpoint(r))
    assert info.value.category == "wrong_task"


def test_tgi_minimal_answer(replay):
    r = replay("hfhub-b7abb35_2025-01-23/TestTextGenerationClientVCR.test_generate_no_details.yaml")
    chunks = collect(endpoint(r))
    assert isinstance(chunks[-1], adapters.Finish) and chunks[-1].text == ""
