"""A Hugging Face emulator: a real threaded HTTP server on 127.0.0.1 answering like the Hub API, the inference
router (hf-inference route and Inference Providers chat) and text-generation-inference endpoints.

Its answers follow the recordings in shared/hf-recordings and the facts in shared/docs/hf-protocol.md: error
bodies in their four forms plus plain text, X-Error-Code / X-Error-Message headers, TGI validation messages,
SSE with `data:` (TGI 2.x) or `data: ` (TGI 3.x), `[DONE]` only where the real server sends it, chunked
transfer encoding. It can be told to fail in every way the client must diagnose.
"""

import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests import hf_emulator_features as features

WORDS = "The sky is blue because molecules in the air scatter blue light from the sun more than red light".split()


def fake_vector(text, dims=8):
    """A unit vector that depends only on the text (token ids count as text): equal texts, equal vectors."""
    digest = hashlib.sha256(json.dumps(text).encode()).digest()
    values = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def word_vector(text, dims=64):
    """A unit bag-of-words vector: texts sharing words point the same way, so a retrieval finds the document with
    the query's words (an embedding server's behaviour, cheaply)."""
    values = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", str(text).lower()):
        values[hashlib.sha256(word.encode()).digest()[0] % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def overlap(query, text):
    """A rerank score: the share of the query's words found in the text."""
    words = set(query.lower().replace("?", "").split())
    return round(len(words & set(text.lower().replace(".", "").split())) / (len(words) or 1), 4)


def openai_embeddings(body, model_id, vectorize=fake_vector, dims=8):
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)) else inputs
    dims = body.get("dimensions") or dims
    data = [{"object": "embedding", "index": i, "embedding": vectorize(t, dims)} for i, t in enumerate(texts)]
    data.reverse()  # out of order on purpose: the index says which input each vector is for
    tokens = sum(len(t.split()) if isinstance(t, str) else len(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _vectorizer(server):
    """(how an engine server computes a vector, its dimensions)."""
    return (word_vector, 64) if server.get("words") else (fake_vector, 8)


def whoami_body(name="alice", role="read", global_perms=None, scoped=None):
    access = {"displayName": f"{name}-token", "role": role, "createdAt": "2025-01-01T00:00:00.000Z"}
    if role == "fineGrained":
        access["fineGrained"] = {
            "canReadGatedRepos": True,
            "global": list(global_perms or []),
            "scoped": list(scoped or []),
        }
    return {
        "type": "user",
        "id": "62f264b9f3c90f4b6514a269",
        "name": name,
        "fullname": name.title(),
        "email": f"{name}@example.com",
        "emailVerified": True,
        "isPro": False,
        "canPay": False,
        "periodEnd": None,
        "avatarUrl": "/avatars/x.svg",
        "orgs": [],
        "auth": {"type": "access_token", "accessToken": access},
    }


def model_body(repo_id, pipeline_tag="text-generation", gated=False, warm=True, providers=None, tags=None):
    body = {
        "_id": "661f97d0b00f5f1f620c4f25",
        "id": repo_id,
        "modelId": repo_id,
        "author": repo_id.split("/")[0],
        "private": False,
        "gated": gated,
        "disabled": False,
        "pipeline_tag": pipeline_tag,
        "library_name": "transformers",
        "tags": tags or ["transformers", pipeline_tag],
        "sha": "0e9e39f249a16976918f6564b8830bc894c89659",
        "downloads": 1234,
        "likes": 56,
    }
    if warm:
        body["inference"] = "warm"
    # {provider: status}, or {provider: {"status", "providerId", "task"}} for another id or task (embeddings).
    body["inferenceProviderMapping"] = {
        provider: {"status": entry, "providerId": repo_id, "task": "conversational"}
        if isinstance(entry, str)
        else {"providerId": repo_id, "task": "conversational", **entry}
        for provider, entry in (providers or {}).items()
    }
    return body


def numbers_or_zero(value):
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


class Emulator:
    def __init__(self):
        self.lock = threading.Lock()
        self.server = None
        self.reset()

    # --- state -------------------------------------------------------------------------------------------

    def reset(self):
        with self.lock:
            self.tokens = {}  # token -> whoami body
            self.models = {}  # repo id -> model body (+ "_granted": set of user names, "_backend", "_loading")
            self.renamed = {}  # old repo id -> new repo id
            self.endpoints = {}  # name -> dict(state, token, task, info, sse_space, pipeline)
            self.faults = []  # [pattern, fault dict, remaining]
            self.token_delay = 0.0
            self.first_token_delay = 0.0
            self.response_delay = 0.0
            self.requests = []
            self.aborted_streams = 0
            self.completed_streams = 0
            self.emit_times = []  # monotonic time each streamed token was written
            self.engine_servers = {}  # name -> dict(engine, model_id, api_key, version): served under /srv/<name>
            self.embed_batches = []  # the size of each TEI /embed batch received
            self.provider_details = {}  # repo id -> {provider: catalog fields (context_length, pricing, ...)}
            self.control = {}  # (namespace, name) -> Inference Endpoints API record; data plane in self.endpoints
            self.boot_seconds = 0.3  # how long a resumed or woken endpoint stays initializing
            self.no_tokenizer = set()  # repo ids whose tokenizer.json is missing (404 EntryNotFound)

    def add_token(self, token, **kwargs):
        self.tokens[token] = whoami_body(**kwargs)

    def add_model(self, repo_id, granted=(), backend="tgi", loading=None, description="", modalities=None, **kwargs):
        body = model_body(repo_id, **kwargs)
        body["_description"] = description  # the router catalog's item fields (§7.2)
        body["_modalities"] = modalities or ["text"]
        body["_granted"] = set(granted)
        body["_backend"] = backend
        body["_loading"] = loading  # estimated_time for the next request, then None
        self.models[repo_id] = body
        return body

    def add_endpoint(
        self,
        name,
        state="running",
        token=None,
        pipeline="text-generation",
        sse_space=True,
        tgi=True,
        model_id="bigscience/bloom-560m",
        old_tools=False,
        vision=False,
        **wake,
    ):
        """`wake_seconds=` (scaled to zero): how long it takes to wake (None: never); else boot_seconds."""
        self.endpoints[name] = {
            **wake,
            "vision": vision,  # a VLM: image_url parts are read
            "old_tools": old_tools,  # TGI < 3.2: tool-call arguments as an object, id the integer 0
            "state": state,
            "token": token,
            "pipeline": pipeline,
            "sse_space": sse_space,
            "tgi": tgi,
            "model_id": model_id,
        }
        if state == "initializing" and wake.get("wake_seconds") is not None:
            self.endpoints[name]["ready_at"] = time.monotonic() + wake["wake_seconds"]
        return f"{self.base}/ep/{name}"

    def add_engine(
        self,
        name,
        engine,
        model_id="Qwen/Qwen2.5-7B-Instruct",
        api_key=None,
        version="",
        loading=False,
        n_ctx=None,
        tools=True,
        batch=None,
        words=False,
        reasoning=None,
        vision=False,
        vectors_in_order=False,
        base64=True,
        vector_text=None,
    ):
        """A self-hosted server at /srv/<name>: engine is vllm, vllm_old, sglang, llamacpp, tei, tei_rerank or openai.

        words: its embeddings are word_vector()s of 64 dimensions (a retrieval finds the document with the query's
        words), not fake_vector()s.

        llama.cpp: `n_ctx` is the context it serves (`-c`, in /props; the training context in /v1/models is
        131072), and `loading` makes it answer 503 "Loading model" as llama-server does until its model is in.
        tools=False: started without tool calling (vLLM without --enable-auto-tool-choice, llama.cpp --no-jinja).
        batch: TEI's max_client_batch_size.
        reasoning: the thinking a reasoning model (vLLM's or llama.cpp's reasoning parser) sends as
        `reasoning_content` before its answer, whole and streamed (§10.3).
        /v1/embeddings: `vectors_in_order` answers its vectors in the inputs' order, as vLLM and TEI do (by default
        they come reversed, the index saying which is which); `base64` True answers the base64 encoding when asked,
        "ignored" answers floats anyway, "refused" a 400 (§16.1); `vector_text` replaces each vector's JSON text.
        """
        self.engine_servers[name] = {
            "engine": engine,
            "model_id": model_id,
            "api_key": api_key,
            "version": version,
            "loading": loading,
            "n_ctx": n_ctx,
            "tools": tools,
            "batch": batch,
            "words": words,
            "reasoning": reasoning,
            "vision": vision,  # a multimodal model: image_url parts are read, else refused as vLLM refuses them
            "vectors_in_order": vectors_in_order,
            "base64": base64,
            "vector_text": vector_text,
        }
        return f"{self.base}/srv/{name}"

    def add_org(self, token, org, no_billing=False):
        self.tokens[token]["orgs"].append(
            {"type": "org", "name": org, "fullname": org.title(), "_no_billing": no_billing}
        )

    def add_control_endpoint(
        self,
        namespace,
        name,
        state="running",
        repository="bigscience/bloom-560m",
        task="text-generation",
        image="tgi",
        instance_type="nvidia-a10g",
        url=None,
        url_when_failed=False,
        **data_plane,
    ):
        """An Inference Endpoint known to the control plane, with its data plane at /ep/<name> (or `url`, the
        address the control plane reports for it)."""
        self.control[(namespace, name)] = {
            "url": url,
            "repository": repository,
            "task": task,
            "image": image,
            "instance_type": instance_type,
            "url_when_failed": url_when_failed,
        }
        return self.add_endpoint(name, state=state, model_id=repository, **data_plane)

    def fault(self, pattern, kind, times=1, **kwargs):
        """Make the next `times` requests whose path matches `pattern` (a regex) fail as `kind`."""
        self.faults.append([re.compile(pattern), {"kind": kind, **kwargs}, times])

    # --- server --------------------------------------------------------------------------------------------

    def start(self):
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_url(self):
        return self.base + "/hub"

    @property
    def router_url(self):
        return self.base + "/router"

    def take_fault(self, path):
        with self.lock:
            for entry in self.faults:
                pattern, fault, remaining = entry
                if remaining > 0 and pattern.search(path):
                    entry[2] -= 1
                    return fault
        return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client that closes its keep-alive connection (or stops a stream) is normal here, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Abort(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as real servers do: no 40 ms wait between headers and body
    emu: Emulator

    def log_message(self, *args):
        pass

    # --- plumbing ------------------------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.query = parse_qs(parts.query)
        self.raw_body = raw
        self.emu.requests.append(
            {
                "method": method,
                "path": self.path,
                "headers": dict(self.headers),
                "body": raw,
                "client": self.client_address,
            }
        )
        fault = self.emu.take_fault(parts.path)
        try:
            if self.emu.response_delay:
                time.sleep(self.emu.response_delay)
            if fault and self._apply_fault(fault):
                return
            path = unquote(parts.path)
            if path.startswith("/hub/"):
                self._hub(method, path[4:])
            elif path.startswith("/router/"):
                self._router(method, path[7:])
            elif path.startswith(("/srv/", "/endpoints-api/")):
                self._extra_routes(method, path)
            elif path.startswith("/ep/"):
                name, _, rest = path[4:].partition("/")
                self._endpoint(method, name, "/" + rest)
            else:
                self._send(404, "Not Found", "text/plain")
        except (BrokenPipeError, ConnectionResetError, _Abort):
            self.close_connection = True

    def _send(self, status, body, content_type="application/json", headers=None):
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode())
        )
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message, error_type=None, headers=None):
        body = {"error": message}
        if error_type:
            body["error_type"] = error_type
        self._send(status, body, "application/json", headers)

    def _json(self):
        try:
            return json.loads(self.raw_body or b"null")
        except ValueError:
            self._send(
                400, f"Failed to parse the request body as JSON: {self.raw_body[:40]!r}", "text/plain; charset=utf-8"
            )
            raise _Abort() from None

    def _token(self):
        header = self.headers.get("Authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def _apply_fault(self, fault):
        kind = fault["kind"]
        if kind == "status":
            self._send(
                fault["status"],
                fault.get("body", ""),
                fault.get("content_type", "application/json"),
                fault.get("headers"),
            )
        elif kind == "slow":
            time.sleep(fault.get("seconds", 5))
            return False
        elif kind == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif kind == "non_json":
            self._send(200, "<html><body>Welcome to nginx!</body></html>", "text/html")
        elif kind == "rate_limit":
            self._error(
                429,
                "Rate limit reached. You reached free usage limit (reset hourly).",
                headers={"Retry-After": str(fault.get("retry_after", 1))},
            )
        elif kind == "loading":
            self._send(
                503,
                {
                    "error": f"Model {fault.get('model', 'x')} is currently loading",
                    "estimated_time": fault.get("estimated_time", 20.0),
                },
            )
        elif kind in ("drop_mid_stream", "stream_error"):
            self._current_fault = fault
            return False
        else:
            raise ValueError(kind)
        return True

    # --- Hub -----------------------------------------------------------------------------------------------

    def _hub(self, method, path):
        token = self._token()
        if self._hub_extra(method, path, token):
            return
        match = re.match(r"^/(.+?/.+?)/resolve/[^/]+/tokenizer\.json$", path)
        if match and method == "GET":
            if match.group(1) in self.emu.no_tokenizer:
                message = "Entry not found"
                return self._error(404, message, headers={"X-Error-Code": "EntryNotFound", "X-Error-Message": message})
            return self._send(200, features.tokenizer_json(WORDS + ["Once", "Hello", "there"]))
        if path == "/api/whoami-v2":
            body = self.emu.tokens.get(token)
            if body is None:
                message = "Invalid credentials in Authorization header"
                return self._error(401, message, headers={"X-Error-Message": message})
            return self._send(200, body)
        match = re.match(r"^/api/models/(.+)$", path)
        if match and method == "GET":
            repo = match.group(1)
            if repo in self.emu.renamed:
                target = self.emu.renamed[repo]
                return self._send(
                    307,
                    f"Temporary Redirect. Redirecting to /api/models/{target}",
                    "text/plain",
                    {"Location": f"/hub/api/models/{target}"},
                )
            if token is not None and token not in self.emu.tokens:
                message = "Invalid credentials in Authorization header"
                return self._error(401, message, headers={"X-Error-Message": message})
            model = self.emu.models.get(repo)
            if model is None:
                status = 404 if token else 401
                message = "Repository not found" if token else "Invalid username or password."
                return self._error(
                    status, message, headers={"X-Error-Code": "RepoNotFound", "X-Error-Message": message}
                )
            public = {k: v for k, v in model.items() if not k.startswith("_")}
            if "_hub_mapping" in model:  # the Hub's mapping lagging the router's own (which routes)
                public["inferenceProviderMapping"] = model["_hub_mapping"]
            expand = self.query.get("expand[]", []) + self.query.get("expand", [])
            if expand:
                public = {k: v for k, v in public.items() if k in ("_id", "id") or k in expand}
            return self._send(200, public, "application/json; charset=utf-8")
        return self._send(404, "Not Found", "text/plain")

    # --- router --------------------------------------------------------------------------------------------

    def _router_auth(self):
        token = self._token()
        who = self.emu.tokens.get(token)
        if who is None:
            message = "Invalid username or password."
            self._error(
                401,
                message,
                headers={
                    "WWW-Authenticate": 'Bearer realm="Authentication required", charset="UTF-8"',
                    "X-Error-Message": message,
                },
            )
            raise _Abort()
        access = who["auth"]["accessToken"]
        if access["role"] == "fineGrained" and "inference.serverless.write" not in access["fineGrained"]["global"]:
            self._error(
                403,
                "This authentication method does not have sufficient permissions to call Inference "
                f"Providers on behalf of user {who['name']}",
            )
            raise _Abort()
        return who

    def _router(self, method, path):
        if method == "GET" and path.startswith("/v1/models"):
            return self._router_catalog(path)
        if method != "POST":
            return self._send(404, "Not Found", "text/plain")
        who = self._router_auth()
        if path == "/v1/chat/completions":
            body = self._json()
            name, _, suffix = str((body or {}).get("model", "")).partition(":")
            model = self.emu.models.get(name)
            live = {p for p, m in (model or {}).get("inferenceProviderMapping", {}).items() if m["status"] == "live"}
            if not live or (suffix and suffix not in ("fastest", "cheapest", "preferred") and suffix not in live):
                return self._send(
                    400,
                    {
                        "error": {
                            "message": f"The requested model '{body.get('model')}' is not "
                            "supported by any provider you have enabled.",
                            "type": "invalid_request_error",
                        }
                    },
                )
            if not self._gate(model, who):
                return
            vision = "image" in model.get("_modalities", ())
            return self._chat(body, sse_space=True, done=True, model_name=name, vision=vision)
        match = re.match(r"^/(together|scaleway|deepinfra)(/v1/embeddings|/v1/openai/embeddings)$", path)
        if match:
            return self._provider_embeddings(match.group(1), match.group(2))
        match = re.match(r"^/hf-inference/models/(.+?)/pipeline/feature-extraction$", path)
        if match:
            model = self.emu.models.get(match.group(1))
            if model is None or model.get("inference") != "warm":
                return self._send(404, "Not Found", "text/plain; charset=utf-8")
            inputs = (self._json() or {}).get("inputs")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if model.get("_backend") == "transformers":  # no pooling: one vector per token (§11.2)
                return self._send(200, [[fake_vector(w) for w in text.split()] for text in texts])
            if isinstance(inputs, str):
                return self._send(200, fake_vector(inputs))  # a pooled model, one text: 1-D
            return self._send(200, [fake_vector(t) for t in texts])
        match = re.match(r"^/hf-inference/models/(.+?)(/v1/chat/completions)?$", path)
        if not match:
            return self._send(404, "Not Found", "text/plain")
        model = self.emu.models.get(match.group(1))
        if model is None or model.get("inference") != "warm":
            return self._send(404, "Not Found", "text/plain; charset=utf-8")
        if not self._gate(model, who):
            return
        if model.get("_loading") is not None:
            estimated, model["_loading"] = model["_loading"], None
            return self._send(503, {"error": f"Model {model['id']} is currently loading", "estimated_time": estimated})
        body = self._json()
        if match.group(2):
            return self._chat(body, sse_space=True, done=True, model_name=model["id"])
        if model.get("_backend") == "transformers":
            return self._pipeline(body, model)
        return self._compat(body, sse_space=False, pipeline=model["pipeline_tag"], wrap=True)

    def _provider_embeddings(self, provider, route):
        """An Inference Provider's OpenAI-shaped embeddings through the router (§16.4): the body names the
        provider's id of the model, which must map to a model it serves live for feature-extraction."""
        body = self._json() or {}
        if route != {"deepinfra": "/v1/openai/embeddings"}.get(provider, "/v1/embeddings"):
            return self._send(404, "Not Found", "text/plain")
        for model in self.emu.models.values():
            entry = (model.get("inferenceProviderMapping") or {}).get(provider)
            if (
                entry
                and entry["status"] == "live"
                and entry["task"] == "feature-extraction"
                and entry["providerId"] == body.get("model")
            ):
                return self._send(200, openai_embeddings(body, entry["providerId"]))
        message = f"Model {body.get('model')} does not exist"
        return self._send(404, {"error": {"message": message, "type": "invalid_request_error"}})

    def _gate(self, model, who):
        if model.get("gated") and who["name"] not in model["_granted"]:
            self._error(
                403,
                f"Access to model {model['id']} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{model['id']} to ask for access.",
            )
            return False
        return True

    def _pipeline(self, body, model):
        """A transformers pipeline (not TGI): refuses generation kwargs it does not know, answers a list."""
        params = (body or {}).get("parameters") or {}
        unknown = [
            k
            for k in params
            if k in ("return_full_text", "stop", "details", "seed", "do_sample")
            and model["pipeline_tag"] == "text2text-generation"
        ]
        if unknown:
            names = ", ".join(f"'{k}'" for k in unknown)
            return self._send(
                400,
                {
                    "error": f"The following `model_kwargs` are not used by the model: [{names}] "
                    "(note: typos in the generate arguments will also show up in this list)",
                    "warnings": ["There was an inference error: unused model_kwargs"],
                },
            )
        text = " ".join(WORDS[: min(params.get("max_new_tokens") or 5, len(WORDS))])
        return self._send(200, [{"generated_text": text}], headers={"x-compute-type": "cpu"})

    # --- text-generation-inference -----------------------------------------------------------------------

    def _not_ready(self, endpoint):
        """The Inference Endpoints proxy in front of an endpoint that is not running (hf-protocol.md §5, §9.6, §20):
        paused answers 400 "Invalid state"; the first request to a scaled-to-zero endpoint starts a replica (ready
        after the endpoint's `wake_seconds`, else boot_seconds; None: never); while it initializes the proxy
        answers 503, or, given X-Scale-Up-Timeout, holds the request until the replica is ready or the hold ends
        (then 503). True when it answered."""
        now = time.monotonic()
        if endpoint["state"] == "scaled_to_zero":
            wake = endpoint.get("wake_seconds", self.emu.boot_seconds)
            endpoint["state"], endpoint["ready_at"] = "initializing", float("inf") if wake is None else now + wake
        if endpoint["state"] == "initializing" and now >= endpoint.get("ready_at", float("inf")):
            endpoint["state"] = "running"
        if endpoint["state"] == "paused":
            self._send(400, "Bad Request: Invalid state", "text/plain")
            return True
        if endpoint["state"] == "failed":  # no replica: the proxy's answer is assumed the same as a cold start's
            self._send(503, "Service Unavailable", "text/plain")
            return True
        if endpoint["state"] != "initializing":
            return False
        hold = numbers_or_zero(self.headers.get("X-Scale-Up-Timeout"))
        ready_at = endpoint.get("ready_at", float("inf"))
        if hold and ready_at - now <= hold:
            time.sleep(max(0.0, ready_at - now))  # the proxy holds the request until the replica is ready
            endpoint["state"] = "running"
            return False
        time.sleep(min(hold, 60))  # held to the end of the hold, in vain
        self._send(503, "Service Unavailable", "text/plain")
        return True

    def _endpoint(self, method, name, path):
        endpoint = self.emu.endpoints.get(name)
        if endpoint is None:
            return self._send(404, "Not Found", "text/plain")
        if self._not_ready(endpoint):
            return
        if endpoint["token"] and (self._token() or "").lower() != endpoint["token"].lower():
            return self._send(401, b"", None)
        if not endpoint["tgi"]:
            if path == "/" and method == "POST":
                return self._send(200, "<html><body>It works!</body></html>", "text/html")
            return self._send(404, "<html>Not found</html>", "text/html")
        if method == "GET" and path == "/info":
            return self._send(
                200,
                {
                    "model_id": endpoint["model_id"],
                    "model_sha": "e985a63c",
                    "model_pipeline_tag": "image-text-to-text" if endpoint.get("vision") else endpoint["pipeline"],
                    "max_concurrent_requests": 128,
                    "max_best_of": 2,
                    "max_stop_sequences": 4,
                    "max_input_tokens": 1024,
                    "max_total_tokens": 2048,
                    "validation_workers": 2,
                    "max_client_batch_size": 4,
                    "router": "text-generation-router",
                    "version": "3.3.6-dev0",
                    "sha": None,
                    "docker_label": None,
                },
            )
        if method == "GET" and path in ("/health", "/"):
            return self._send(200, b"", None)
        if method != "POST":
            return self._send(405, b"", None)
        body = self._json()
        if path == "/":
            return self._compat(body, endpoint["sse_space"], endpoint["pipeline"], wrap=True)
        if path == "/generate":
            return self._compat(
                {**(body or {}), "stream": False}, endpoint["sse_space"], endpoint["pipeline"], wrap=False
            )
        if path == "/generate_stream":
            return self._compat(
                {**(body or {}), "stream": True}, endpoint["sse_space"], endpoint["pipeline"], wrap=False
            )
        if path == "/v1/chat/completions":
            return self._chat(
                body,
                endpoint["sse_space"],
                done=endpoint["sse_space"],
                model_name=endpoint["model_id"],
                tgi=True,
                old_tgi=endpoint.get("old_tools", False),
                vision=endpoint.get("vision", False),
            )
        return self._send(404, b"", None)

    def _validate(self, inputs, params, stream):
        """TGI's validation, in its order; returns the message or None."""
        if params.get("temperature") is not None and params["temperature"] <= 0:
            return "`temperature` must be strictly positive"
        if params.get("repetition_penalty") is not None and params["repetition_penalty"] <= 0:
            return "`repetition_penalty` must be strictly positive"
        if params.get("top_p") is not None and not 0 < params["top_p"] < 1:
            return "`top_p` must be > 0.0 and < 1.0"
        if params.get("top_k") is not None and params["top_k"] <= 0:
            return "`top_k` must be strictly positive"
        if params.get("max_new_tokens") == 0:
            return "`max_new_tokens` must be strictly positive"
        if len(params.get("stop") or []) > 4:
            return f"`stop` supports up to 4 stop sequences. Given: {len(params['stop'])}"
        if not inputs:
            return "`inputs` cannot be empty"
        tokens = len(inputs.split())
        if tokens + (params.get("max_new_tokens") or 0) > 2048:
            return (
                f"`inputs` tokens + `max_new_tokens` must be <= 2048. Given: {tokens} `inputs` tokens and "
                f"{params.get('max_new_tokens')} `max_new_tokens`"
            )
        return None

    def _deserialize(self, body):
        if not isinstance(body, dict) or "inputs" not in body:
            self._send(
                422,
                "Failed to deserialize the JSON body into the target type: missing field `inputs` at line 1 column 2",
                "text/plain; charset=utf-8",
            )
            raise _Abort()
        if not isinstance(body["inputs"], str):
            self._send(
                422,
                "Failed to deserialize the JSON body into the target type: inputs: invalid type: map, "
                "expected a string at line 1 column 11",
                "text/plain; charset=utf-8",
            )
            raise _Abort()
        stop = (body.get("parameters") or {}).get("stop")
        if stop is not None and not isinstance(stop, list):
            self._send(
                422,
                "Failed to deserialize the JSON body into the target type: parameters.stop: invalid "
                "type: string, expected a sequence at line 1 column 40",
                "text/plain; charset=utf-8",
            )
            raise _Abort()
        return body

    def _tokens(self, count):
        return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(count)]

    def _compat(self, body, sse_space, pipeline, wrap):
        body = self._deserialize(body)
        params = body.get("parameters") or {}
        stream = bool(body.get("stream"))
        error = self._validate(body["inputs"], params, stream)
        count = min(params.get("max_new_tokens") or 20, 200)
        pieces = self._tokens(count)
        full_text = params.get("return_full_text")
        if full_text is None:
            full_text = pipeline == "text-generation" and wrap
        prefix = body["inputs"] if full_text else ""
        headers = {
            "x-compute-type": "1-a10-g",
            "x-prompt-tokens": str(len(body["inputs"].split())),
            "x-generated-tokens": str(count),
            "x-compute-characters": str(len(body["inputs"])),
        }
        if not stream:
            if error:
                return self._error(422, f"Input validation error: {error}", "validation")
            result = {"generated_text": prefix + "".join(pieces)}
            if params.get("details"):
                result["details"] = {
                    "finish_reason": "length",
                    "generated_tokens": count,
                    "seed": params.get("seed"),
                    "prefill": [],
                    "tokens": [],
                }
            return self._send(200, [result] if wrap else result, headers=headers)
        prefix_text = "data: " if sse_space else "data:"
        self._start_stream(headers)
        if error:
            self._event(
                prefix_text + json.dumps({"error": f"Input validation error: {error}", "error_type": "validation"})
            )
            return self._end_stream()
        for index, piece in enumerate(pieces, start=1):
            last = index == count
            event = {
                "index": index,
                "token": {"id": 100 + index, "text": piece, "logprob": -0.5, "special": False},
                "generated_text": (prefix + "".join(pieces)) if last else None,
                "details": {
                    "finish_reason": "length",
                    "generated_tokens": count,
                    "seed": params.get("seed"),
                    "input_length": len(body["inputs"].split()),
                }
                if last and params.get("details")
                else None,
            }
            if not self._stream_step(index, prefix_text, event):
                return
        self._end_stream()

    def _chat(self, body, sse_space, done, model_name, tgi=False, old_tgi=False, reasoning=None, vision=False):
        """Chat as the router, vLLM, SGLang and llama.cpp answer it, or (tgi) as TGI's Messages API does, with
        tools, response_format, logprobs and n as each dialect has them (hf_emulator_features)."""
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send(
                422,
                "Failed to deserialize the JSON body into the target type: messages: invalid type: "
                "string, expected a sequence at line 1 column 27",
                "text/plain; charset=utf-8",
            )
            raise _Abort()
        try:
            call = features.tool_call(body, tgi)
            fixed = (
                features.after_tool(body)
                or features.structured_text(body, tgi)
                or features.seen_images(body, vision, tgi)
            )
        except features.Refusal as refusal:
            return self._send(refusal.status, refusal.body, refusal.content_type)
        temperature = body.get("temperature")
        count = min(body.get("max_tokens") or 20, 200)
        pieces = re.findall(r".{1,8}", fixed, re.S) if fixed else self._tokens(count)
        count = len(pieces)
        reason = "stop" if fixed else "length"
        choices_n = 1 if tgi else (body.get("n") or 1)
        error = None
        if temperature is not None and not 0 <= temperature <= 2:
            error = "Input validation error: `temperature` must be between 0 and 2"
        created = int(time.time())
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}
        if not body.get("stream"):
            if error:
                return self._error(422, error, "validation")
            if call:
                message = features.whole_call_message(*call, tgi, old_tgi)
                reason = "stop" if tgi else "tool_calls"
            else:
                message = {"role": "assistant", "content": "".join(pieces)}
            if reasoning:
                message["reasoning_content"] = reasoning
            choices = [
                {
                    "index": index,
                    "message": message,
                    "logprobs": features.logprobs(pieces, body),
                    "finish_reason": reason,
                }
                for index in range(choices_n)
            ]
            return self._send(
                200,
                {
                    "object": "chat.completion",
                    "id": "",
                    "created": created,
                    "model": model_name,
                    "system_fingerprint": "3.2.1-native",
                    "choices": choices,
                    "usage": usage,
                },
            )
        prefix_text = "data: " if sse_space else "data:"
        self._start_stream({})
        if error:
            self._event(prefix_text + json.dumps({"error": {"message": error, "http_status_code": 422}}))
            if done:
                self._event(prefix_text + "[DONE]")
            return self._end_stream()

        def event(index, delta, finish, logprobs=None):
            return {
                "object": "chat.completion.chunk",
                "id": "",
                "created": created,
                "model": model_name,
                "system_fingerprint": "3.2.1-native",
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
                "usage": None,
            }

        if call and old_tgi:
            deltas = features.old_call_deltas(*call)
            steps = [event(0, delta, "eos_token" if i == len(deltas) - 1 else None) for i, delta in enumerate(deltas)]
        elif call:
            steps = [event(0, delta, None) for delta in features.call_deltas(*call, tgi)]
            if not tgi:  # TGI's tool stream ends without a finish reason (§13.2)
                steps.append(event(0, {}, "tool_calls"))
        else:
            steps = []
        if reasoning:
            steps.insert(0, event(0, {"role": "assistant", "content": None, "reasoning_content": reasoning}, None))
        if not call:
            for position, piece in enumerate(pieces, start=1):
                finish = reason if position == count else None
                logprobs = features.logprobs([piece], body)
                steps += [event(i, {"role": "assistant", "content": piece}, finish, logprobs) for i in range(choices_n)]
        for index, step in enumerate(steps, start=1):
            if not self._stream_step(index, prefix_text, step):
                return
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(
                prefix_text
                + json.dumps(
                    {
                        "object": "chat.completion.chunk",
                        "id": "",
                        "created": created,
                        "model": model_name,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        if done:
            self._event(prefix_text + "[DONE]")
        self._end_stream()

    # --- streaming -----------------------------------------------------------------------------------------

    def _start_stream(self, headers):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, text):
        self._chunk(text.encode() + b"\n\n")

    def _stream_step(self, index, prefix_text, event):
        """Write one token event, honouring pacing and mid-stream faults. False when the stream is over."""
        fault = getattr(self, "_current_fault", None)
        delay = self.emu.first_token_delay if index == 1 else self.emu.token_delay
        if delay:
            time.sleep(delay)
        if fault and index > fault.get("after", 2):
            self._current_fault = None  # fired once: a later request on this kept-alive connection is not cut
            if fault["kind"] == "drop_mid_stream":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return False
            if fault["kind"] == "stream_error":
                self._event(
                    prefix_text
                    + json.dumps(
                        fault.get("event")
                        or {
                            "error": "Request failed during generation: Server error: CUDA out of memory",
                            "error_type": "generation",
                        }
                    )
                )
                self._end_stream()
                return False
        try:
            self.emu.emit_times.append(time.monotonic())  # before the write, so a fast reader never outruns it
            self._event(prefix_text + json.dumps(event, separators=(",", ":")))
        except (BrokenPipeError, ConnectionResetError):
            with self.emu.lock:
                self.emu.aborted_streams += 1
            self.close_connection = True
            return False
        return True

    def _end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        with self.emu.lock:
            self.emu.completed_streams += 1

    # --- engines behind an endpoint URL (§10): /srv/<name>/... ---------------------------------------------

    def _extra_routes(self, method, path):
        if path.startswith("/endpoints-api/"):
            return self._control_plane(method, path[len("/endpoints-api") :])
        name, _, rest = path[5:].partition("/")
        server = self.emu.engine_servers.get(name)
        if server is None:
            return self._send(404, "Not Found", "text/plain")
        return self._engine_server(method, server, "/" + rest)

    def _engine_error(self, server, status, message, kind="BadRequestError"):
        """The error body each engine sends (§10.3 to §10.6)."""
        engine = server["engine"]
        if engine == "vllm":
            body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
        elif engine in ("vllm_old", "sglang"):
            body = {"object": "error", "message": message, "type": "Bad Request" if engine == "sglang" else kind}
            body.update({"param": None, "code": status})
        elif engine == "llamacpp":
            body = {"error": {"code": status, "message": message, "type": "invalid_request_error"}}
        else:
            body = {"error": {"message": message, "type": "invalid_request_error"}}
        return self._send(status, body)

    def _engine_server(self, method, server, path):
        if "state" in server and self._not_ready(server):  # a dedicated endpoint running this engine (§5)
            return
        engine = server["engine"]
        model_id = server["model_id"]
        open_paths = ("/health", "/version", "/metrics", "/")
        if engine == "llamacpp" and server.get("loading"):  # §10.5: every route, /health included
            return self._send(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})
        if server.get("api_key") and path not in open_paths and self._token() != server["api_key"]:
            if engine == "tei":
                return self._send(401, b"", None)
            if engine == "llamacpp":
                return self._send(
                    401, {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}
                )
            return self._send(401, {"error": "Unauthorized"})
        if method == "GET" and path == "/health":
            return self._send(200, {"status": "ok"} if engine == "llamacpp" else b"", "application/json")
        if engine in ("tei", "tei_rerank"):
            return self._tei(method, server, path)
        if method == "POST" and path == "/v1/embeddings":  # an OpenAI-compatible server with an embedding model
            body = self._json()
            if body.get("encoding_format") == "base64" and server.get("base64") == "refused":
                return self._send(400, {"error": {"message": "encoding_format base64 is not supported", "code": 400}})
            answer = openai_embeddings(body, model_id, *_vectorizer(server))
            if server.get("vectors_in_order"):
                answer["data"].reverse()
            if body.get("encoding_format") == "base64" and server.get("base64") is True:
                for item in answer["data"]:
                    vector = item["embedding"]
                    item["embedding"] = b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            written = json.dumps(answer).encode()
            if server.get("vector_text"):
                written = re.sub(rb'"embedding": \[[^\]]*\]', b'"embedding": ' + server["vector_text"], written)
            return self._send(200, written, "application/json")
        if method == "POST" and path in ("/v1/rerank", "/rerank"):
            body = self._json()
            scores = [overlap(body["query"], doc) for doc in body["documents"]]
            results = [
                {"index": i, "relevance_score": scores[i]} for i in sorted(range(len(scores)), key=lambda i: -scores[i])
            ]
            return self._send(
                200, {"model": model_id, "usage": {"prompt_tokens": 9, "total_tokens": 9}, "results": results}
            )
        if method == "GET" and path == "/info":
            return self._send(404, {"detail": "Not Found"})
        if method == "GET" and path == "/v1/models":
            card = {"id": model_id, "object": "model", "created": 1735142223}
            if engine in ("vllm", "vllm_old"):
                card.update(owned_by="vllm", root=model_id, parent=None, max_model_len=32768, permission=[])
            elif engine == "sglang":
                card.update(owned_by="sglang", root=model_id, max_model_len=131072)
            elif engine == "llamacpp":
                card.update(owned_by="llamacpp", meta={"n_ctx_train": 131072, "n_params": 8030261312})
            else:
                card.update(owned_by="organization-owner")
            return self._send(200, {"object": "list", "data": [card]})
        if method == "GET" and path == "/version" and engine in ("vllm", "vllm_old"):
            return self._send(200, {"version": server.get("version") or "0.11.0"})
        if method == "GET" and path == "/get_server_info" and engine == "sglang":
            return self._send(200, {"version": server.get("version") or "0.5.2", "model_path": model_id})
        if method == "GET" and path == "/props" and engine == "llamacpp":
            settings = {"n_ctx": server.get("n_ctx") or 4096, "params": {"temperature": 0.8, "top_p": 0.95}}
            body = {"build_info": server.get("version") or "b6500-abc1234", "model_path": model_id}
            body["modalities"] = {"vision": bool(server.get("vision")), "audio": False}  # vision: --mmproj
            return self._send(200, {**body, "default_generation_settings": settings, "total_slots": 1})
        if method != "POST" or path not in ("/v1/completions", "/v1/chat/completions"):
            return self._send(404, {"detail": "Not Found"})
        body = self._json()
        if not isinstance(body, dict):
            return self._engine_error(server, 400, "Invalid request body")
        if engine != "llamacpp" and body.get("model") != model_id:
            return self._engine_error(server, 404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 2:
            return self._engine_error(server, 400, f"temperature must be in [0, 2], got {temperature}.")
        if "max_new_tokens" in body or "inputs" in body or "parameters" in body:
            return self._engine_error(server, 400, "TGI fields sent to an OpenAI-compatible server")
        if path == "/v1/chat/completions":
            if body.get("tools") and not server.get("tools", True):
                return self._no_tools(server, body)
            return self._chat(
                body,
                sse_space=True,
                done=True,
                model_name=model_id,
                reasoning=server.get("reasoning"),
                vision=server.get("vision", False),
            )
        return self._completions(body, model_id)

    def _no_tools(self, server, body):
        """What a server started without tool calling answers (§13.3, §13.5)."""
        if server["engine"] == "llamacpp":
            return self._engine_error(server, 500, "tools param requires --jinja flag", "server_error")
        if body.get("tool_choice") in (None, "auto"):
            message = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
            return self._engine_error(server, 400, message)
        return self._chat(body, sse_space=True, done=True, model_name=server["model_id"])

    def _completions(self, body, model_id):
        """OpenAI /v1/completions as vLLM answers it: choices[].text, usage chunk only when asked, [DONE]."""
        count = min(body.get("max_tokens") or 16, 200)
        pieces = self._tokens(count)
        created = int(time.time())
        prompts = body.get("prompt") if isinstance(body.get("prompt"), list) else [body.get("prompt")]
        prompt_tokens = sum(len(str(p or "").split()) for p in prompts)
        echo = str(prompts[0] or "") if body.get("echo") else ""

        # vLLM answers a choice per prompt and per n, numbered prompt by prompt
        choices_n = (body.get("n") or 1) * len(prompts)
        completion_tokens = count * choices_n
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

        def chunk(text, finish, index=0, pieces_of=()):
            logprobs = features.completion_logprobs(pieces_of, body)
            choice = {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish, "stop_reason": None}
            return {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": created,
                "model": model_id,
                "choices": [choice],
            }

        if not body.get("stream"):
            whole = chunk(echo + "".join(pieces), "length", 0, pieces)
            whole["choices"] = [{**whole["choices"][0], "index": i} for i in range(choices_n)]
            whole["usage"] = usage
            return self._send(200, whole)
        self._start_stream({})
        steps = [
            chunk(piece, "length" if position == count else None, i, [piece])
            for position, piece in enumerate(pieces, start=1)
            for i in range(choices_n)
        ]
        for index, step in enumerate(steps, start=1):
            if not self._stream_step(index, "data: ", step):
                return
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event("data: " + json.dumps({**chunk("", None), "choices": [], "usage": usage}))
        self._event("data: [DONE]")
        self._end_stream()

    def _tei(self, method, server, path):
        if method == "GET" and path == "/info":
            return self._send(
                200,
                {
                    "model_id": server["model_id"],
                    "model_sha": "a5beb1e3",
                    "model_dtype": "float16",
                    "model_type": (
                        {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
                        if server["engine"] == "tei_rerank"
                        else {"embedding": {"pooling": "cls"}}
                    ),
                    "max_concurrent_requests": 512,
                    "max_input_length": 512,
                    "max_batch_tokens": 16384,
                    "max_client_batch_size": server.get("batch") or 32,
                    "auto_truncate": True,
                    "tokenization_workers": 8,
                    "version": server.get("version") or "1.9.3",
                },
            )
        body = self._json() if method == "POST" else None
        reranker = server["engine"] == "tei_rerank"
        if method == "POST" and path in ("/embed", "/") and not reranker:
            inputs = body.get("inputs") if isinstance(body, dict) else None
            texts = [inputs] if isinstance(inputs, (str, int)) or (inputs and isinstance(inputs[0], int)) else inputs
            limit = server.get("batch") or 32
            if len(texts) > limit:
                message = f"batch size {len(texts)} > maximum allowed batch size {limit}"
                return self._send(422, {"error": message, "error_type": "Validation"})
            self.emu.embed_batches.append(len(texts))
            vectorize, dims = _vectorizer(server)
            return self._send(200, [vectorize(t, body.get("dimensions") or dims) for t in texts])
        if method == "POST" and path == "/rerank":
            if not reranker:
                return self._send(424, {"error": "model is not a re-ranker model", "error_type": "Backend"})
            scores = [overlap(body["query"], text) for text in body["texts"]]
            ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
            return self._send(200, [{"index": i, "score": scores[i]} for i in ranked])
        if method == "POST" and path == "/v1/embeddings" and not reranker:
            return self._send(200, openai_embeddings(body, server["model_id"], *_vectorizer(server)))
        return self._send(404, b"", None)

    # --- router catalog (§7) and Hub search (§8) -----------------------------------------------------------

    def _catalog_items(self):
        items = []
        for repo, model in sorted(self.emu.models.items()):
            mapping = model.get("inferenceProviderMapping") or {}
            providers = []
            for provider, entry in sorted(mapping.items()):
                if provider == "hf-inference" or entry["status"] not in ("live", "error"):
                    continue
                providers.append(
                    {
                        "provider": provider,
                        "status": entry["status"],
                        **self.emu.provider_details.get(repo, {}).get(provider, {}),
                    }
                )
            if providers and "conversational" in model.get("tags", []):
                items.append(
                    {
                        "id": repo,
                        "object": "model",
                        "created": 1776837885,
                        "owned_by": repo.split("/")[0],
                        "architecture": {
                            "input_modalities": model.get("_modalities", ["text"]),
                            "output_modalities": ["text"],
                        },
                        "providers": providers,
                        **({"description": model["_description"]} if model.get("_description") else {}),
                    }
                )
        return items

    def _router_catalog(self, path):
        items = self._catalog_items()
        if path in ("/v1/models", "/v1/models/"):
            return self._send(200, {"object": "list", "data": items})
        wanted = path[len("/v1/models/") :]
        for item in items:
            if item["id"] == wanted:
                return self._send(200, item)
        return self._send(404, {"error": {"message": f"Model {wanted} not found", "type": "invalid_request_error"}})

    def _hub_extra(self, method, path, token):
        """Routes added for the model picker; True when answered."""
        if path.startswith("/api/models") and token is not None and token not in self.emu.tokens:
            if path == "/api/models" or path.endswith("/auth-check"):
                message = "Invalid credentials in Authorization header"
                self._error(401, message, headers={"X-Error-Message": message})
                return True
        if path == "/api/models" and method == "GET":
            self._hub_search()
            return True
        match = re.match(r"^/api/models/(.+)/auth-check$", path)
        if match and method == "GET":
            model = self.emu.models.get(match.group(1))
            who = self.emu.tokens.get(token)
            if model is None:
                self._error(404, "Repository not found", headers={"X-Error-Code": "RepoNotFound"})
            elif model.get("gated") and (who is None or who["name"] not in model["_granted"]):
                message = f"Access to model {model['id']} is restricted and you are not in the authorized list."
                self._error(403, message, headers={"X-Error-Code": "GatedRepo", "X-Error-Message": message})
            else:
                self._send(200, {})
            return True
        return False

    def _hub_search(self):
        q = self.query
        search = (q.get("search") or [""])[0].lower()
        tag = (q.get("pipeline_tag") or [""])[0]
        filters = q.get("filter") or []
        provider = (q.get("inference_provider") or [""])[0]
        limit = int((q.get("limit") or ["20"])[0])
        offset = int((q.get("cursor") or ["0"])[0] or 0)
        found = []
        for repo, model in sorted(self.emu.models.items(), key=lambda kv: -kv[1].get("downloads", 0)):
            live = [p for p, m in (model.get("inferenceProviderMapping") or {}).items() if m["status"] == "live"]
            if search and search not in repo.lower():
                continue
            if tag and model.get("pipeline_tag") != tag:
                continue
            if any(f not in model.get("tags", []) for f in filters):
                continue
            if provider and not (live if provider == "all" else provider in live):
                continue
            found.append(model)
        page = found[offset : offset + limit]
        expand = q.get("expand[]", []) + q.get("expand", [])
        out = []
        for model in page:
            public = {k: v for k, v in model.items() if not k.startswith("_")}
            public["inferenceProviderMapping"] = [
                {"provider": p, **m} for p, m in (model.get("inferenceProviderMapping") or {}).items()
            ]
            if expand:
                public = {k: v for k, v in public.items() if k in ("_id", "id") or k in expand}
            out.append(public)
        headers = {}
        if offset + limit < len(found):
            params = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs] + [("cursor", str(offset + limit))]
            from urllib.parse import urlencode

            headers["Link"] = f'<{self.emu.hub_url}/api/models?{urlencode(params)}>; rel="next"'
        self._send(200, out, "application/json; charset=utf-8", headers)

    # --- Inference Endpoints control plane (§9): /endpoints-api/endpoint/... -------------------------------

    def _control_record(self, namespace, name):
        record = self.emu.control[(namespace, name)]
        data_plane = self.emu.endpoints.get(name) or {}
        if data_plane.get("state") == "initializing" and time.monotonic() >= data_plane.get("ready_at", float("inf")):
            data_plane["state"] = "running"
        state = {"scaled_to_zero": "scaledToZero"}.get(data_plane.get("state"), data_plane.get("state", "failed"))
        status = {
            "createdAt": "2026-01-05T10:00:00.000000000Z",
            "updatedAt": "2026-01-05T10:00:00.000Z",
            "state": state,
            "message": {"running": "Endpoint is ready", "failed": "Endpoint failed to deploy"}.get(state, ""),
            "readyReplica": 1 if state == "running" else 0,
            "targetReplica": 1,
        }
        if state not in ("pending", "failed") or (state == "failed" and record.get("url_when_failed")):
            # Whether a failed endpoint's record keeps its URL is not documented: `url_when_failed` says it does.
            status["url"] = record.get("url") or f"{self.emu.base}/ep/{name}"
        return {
            "name": name,
            "type": "protected",
            "accountId": None,
            "provider": {"vendor": "aws", "region": "us-east-1"},
            "healthRoute": "/health",
            "compute": {
                "accelerator": "gpu",
                "instanceType": record["instance_type"],
                "instanceSize": "x1",
                "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15},
            },
            "model": {
                "repository": record["repository"],
                "revision": "main",
                "task": record["task"],
                "framework": "pytorch",
                "image": {record["image"]: {"url": "ghcr.io/engine:latest", "port": 80}},
            },
            "status": status,
        }

    def _control_plane(self, method, path):
        who = self.emu.tokens.get(self._token())
        if who is None:
            message = "Invalid credentials in Authorization header"
            return self._error(401, message, headers={"X-Error-Message": message})
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 2 or parts[0] != "endpoint":
            return self._send(404, "Not Found", "text/plain")
        namespace = parts[1]
        allowed = {who["name"]} | {o["name"] for o in who.get("orgs", []) if not o.get("_no_billing")}
        if namespace not in allowed:
            return self._error(401, "Either no billing or you don't have access to this namespace")
        access = who["auth"]["accessToken"]
        if access["role"] == "fineGrained":
            fine = access["fineGrained"]
            perms = set(fine.get("global") or [])
            for entry in fine.get("scoped") or []:
                perms.update(entry.get("permissions") or [])
            needed = "inference.endpoints.write" if method == "POST" else "inference.endpoints.read"
            if needed not in perms and "inference.endpoints.write" not in perms:
                return self._error(403, f"Your token does not have the {needed} permission on {namespace}")
        if len(parts) == 2 and method == "GET":
            names = sorted(n for (ns, n) in self.emu.control if ns == namespace)
            return self._send(200, {"items": [self._control_record(namespace, n) for n in names]})
        if (namespace, parts[2] if len(parts) > 2 else "") not in self.emu.control:
            return self._error(404, f"Endpoint {'/'.join(parts[1:3])} not found")
        name = parts[2]
        if len(parts) == 3 and method == "GET":
            return self._send(200, self._control_record(namespace, name))
        if len(parts) == 4 and method == "POST" and parts[3] in ("resume", "pause", "scale-to-zero"):
            data_plane = self.emu.endpoints[name]
            if parts[3] == "resume":
                if data_plane["state"] == "running":
                    return self._error(400, "Endpoint is already running")
                data_plane["state"], data_plane["ready_at"] = "initializing", time.monotonic() + self.emu.boot_seconds
            elif parts[3] == "pause":
                data_plane["state"] = "paused"
            else:
                data_plane["state"] = "scaled_to_zero"
            return self._send(200, self._control_record(namespace, name))
        return self._send(404, "Not Found", "text/plain")
