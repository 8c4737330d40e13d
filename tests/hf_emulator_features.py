"""The emulator's tools, structured output, logprobs and `n`, per dialect, from hf-protocol.md §13 and §14: OpenAI's
shapes (the router, vLLM, SGLang, llama.cpp) and TGI's Messages API (≥ 3.2: call id "0", finish_reason "stop",
a tool stream without a final finish reason; < 3.2 whole answers: arguments as an object, id the integer 0)."""

import json
import uuid


class Refusal(Exception):
    """What the emulated server answers instead: (status, body, content type)."""

    def __init__(self, status, body, content_type="application/json"):
        self.status, self.body, self.content_type = status, body, content_type


def example(schema, defs=None):
    """A value that satisfies a JSON schema (the subset pydantic writes): what a grammar-constrained model returns."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return example(schema[key][0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: example(sub, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example(schema.get("items") or {"type": "string"}, defs)]
    return {"string": "Paris", "integer": 18, "number": 18.5, "boolean": True, "null": None}.get(kind, "x")


def structured_text(body, tgi):
    """The JSON text a response_format asks for, or None; TGI's own dialect checked as TGI checks it."""
    response_format = body.get("response_format")
    if not response_format:
        return None
    kind = response_format.get("type")
    if tgi:
        if kind not in ("json", "json_object", "regex", "json_schema") or "value" not in response_format:
            # OpenAI's shapes do not deserialize into TGI's GrammarType (§14.2)
            raise Refusal(
                422,
                "Failed to deserialize the JSON body into the target type: response_format: missing field `value`",
                "text/plain; charset=utf-8",
            )
        if body.get("tools"):
            raise Refusal(
                422, {"error": "Tool error: Grammar and tools are mutually exclusive", "error_type": "tool_error"}
            )
        schema = response_format["value"]
        if kind == "json_schema":
            schema = schema.get("schema") or {}
        if not isinstance(schema.get("properties"), dict):
            raise Refusal(
                422,
                {
                    "error": "Input validation error: grammar is not valid: Grammar must have a 'properties' field",
                    "error_type": "validation",
                },
            )
        return json.dumps(example(schema))
    if kind == "text":
        return None
    if kind == "json_object":
        return json.dumps({"answer": "Paris"})
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    return json.dumps(example(schema))


def tool_call(body, tgi):
    """(name, arguments as JSON text) of the call this request gets, or None for a text answer."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    messages = body.get("messages") or []
    if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
        return None
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        chosen = [t for t in tools if t["function"]["name"] == name]
        if not chosen:
            raise Refusal(422, {"error": f"Tool error: Tool with name {name} not found", "error_type": "tool_error"})
        tool = chosen[0]
    else:
        tool = tools[0]
    function = tool["function"]
    return function["name"], json.dumps(example(function.get("parameters") or function.get("arguments") or {}))


def after_tool(body):
    """The text a model says once the tool answered: it repeats the results, so a round trip can be checked."""
    messages = body.get("messages") or []
    results = [m.get("content") for m in messages if m.get("role") == "tool"]
    return "The tool said: " + "; ".join(str(r) for r in results) if results else None


def logprobs(pieces, body):
    if not body.get("logprobs"):
        return None
    top = body.get("top_logprobs") or 0
    return {
        "content": [
            {
                "token": piece,
                "logprob": -0.5,
                "bytes": list(piece.encode()),
                "top_logprobs": [{"token": piece, "logprob": -0.5, "bytes": list(piece.encode())}][:top],
            }
            for piece in pieces
        ]
    }


def whole_call_message(name, arguments, tgi, old_tgi=False):
    if old_tgi:  # TGI 2.x to 3.1: the arguments an object, the id the integer 0 (§13.2)
        call = {
            "id": 0,
            "type": "function",
            "function": {"description": None, "name": name, "arguments": json.loads(arguments)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if tgi:  # TGI ≥ 3.2: no content key at all
        call = {"id": "0", "type": "function", "function": {"description": None, "name": name, "arguments": arguments}}
        return {"role": "assistant", "tool_calls": [call]}
    call = {
        "id": "chatcmpl-tool-" + uuid.uuid4().hex[:16],
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def call_deltas(name, arguments, tgi):
    """The deltas of a streamed call: id, type and name first, then the arguments in pieces."""
    third = max(1, len(arguments) // 3)
    pieces = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
    call_id = "0" if tgi else "chatcmpl-tool-" + uuid.uuid4().hex[:16]
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    deltas = [{"role": "assistant", "tool_calls": [first]}]
    for piece in pieces:
        later = {"index": 0, "function": {"arguments": piece}}
        if tgi:
            later.update(id="0", type="function", function={"name": None, "arguments": piece})
        deltas.append({"role": "assistant", "tool_calls": [later]})
    return deltas


def old_call_deltas(name, arguments):
    """TGI < 3.2 (snapshot 2.4.1): one object, not a list, with id "" and name null; `arguments` streams the
    grammar's raw text, wrapper and `_name` included, up to the end-of-turn token (§13.2)."""
    raw = json.dumps({"function": {"_name": name, **json.loads(arguments)}}) + "<|eot_id|>"
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    return [
        {
            "role": "assistant",
            "tool_calls": {
                "index": 0,
                "id": "",
                "type": "function",
                "function": {"description": None, "name": None, "arguments": piece},
            },
        }
        for piece in pieces
    ]


def completion_logprobs(pieces, body):
    """/v1/completions' older logprobs shape: `logprobs` is how many alternatives per token (0 to 5)."""
    if body.get("logprobs") is None or body.get("logprobs") is False:
        return None
    top = int(body["logprobs"])
    offsets, at = [], 0
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    return {
        "tokens": list(pieces),
        "token_logprobs": [-0.5 for _ in pieces],
        "top_logprobs": [{piece: -0.5} if top else {} for piece in pieces],
        "text_offset": offsets,
    }


def seen_images(body, vision, tgi):
    """The answer's text when the messages carry image_url parts (hf-protocol.md §15): a vision model says how many
    it saw; a text-only one is refused as vLLM and the providers refuse it (TGI writes the image into the prompt as
    markdown instead, so the answer is plain text: None)."""
    urls = [
        part["image_url"]["url"]
        for message in body.get("messages") or []
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    ]
    if not urls:
        return None
    if not vision:
        if tgi:
            return None
        message = "At most 0 image(s) may be provided in one prompt. This model does not support image input."
        raise Refusal(400, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}})
    kinds = sorted({"data" if url.startswith("data:") else "url" for url in urls})
    return f"I see {len(urls)} image(s) ({', '.join(kinds)})."


_TOKENIZER = []


def tokenizer_json(words):
    """A small real tokenizer.json (the `tokenizers` format): one token per word of the emulator's vocabulary, an
    unknown token for any other word, and a <s> the model's template puts before a prompt (hf-protocol.md §18.3)."""
    if not _TOKENIZER:
        from tokenizers import Tokenizer, models, pre_tokenizers, processors

        vocab = {"[UNK]": 0, "<s>": 1}
        for word in words:
            vocab.setdefault(word, len(vocab))
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.add_special_tokens(["<s>"])
        tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        _TOKENIZER.append(tokenizer.to_str().encode())
    return _TOKENIZER[0]
