"""Server-sent events as Hugging Face servers send them: `data:` with or without a space, `[DONE]` or not."""


def iter_sse_data(response):
    """Yield each event's data string from a streaming requests response, as soon as its line arrives."""
    for raw in response.iter_lines(chunk_size=None, decode_unicode=False):
        if not raw:
            continue
        line = raw.decode("utf-8", errors="replace")
        if not line.startswith("data:"):
            continue  # comments (":"), keep-alives, event:/id: lines
        data = line[5:].lstrip(" ")
        if data.strip() == "[DONE]":
            return
        yield data
