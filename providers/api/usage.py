"""Usage the console counts itself where the upstream reported none: the model's own tokenizer (huggingface/
tokens.py) over the prompt and the answer. Integers or nothing: a count that cannot be made is left out."""

from providers.huggingface import tokens

# A call waits this long at most for its model's tokenizer the first time (it is fetched once, then kept).
WAIT_SECONDS = 2.0


def fill(target, prompt_text, answer_texts, prompt_tokens, completion_tokens):
    """(prompt tokens, completion tokens, whether the console counted any of them). `prompt_text`: the prompt
    as the server tokenizes it (a text prompt), or None when the console cannot know it (a chat template)."""
    counted = False
    wanted = (completion_tokens is None and answer_texts) or (prompt_tokens is None and prompt_text is not None)
    tokenizer = tokens.tokenizer(target, WAIT_SECONDS) if wanted else None
    if tokenizer is None:
        return prompt_tokens, completion_tokens, counted
    if completion_tokens is None and answer_texts:
        completion_tokens = sum(len(tokenizer.encode(text, add_special_tokens=False).ids) for text in answer_texts)
        counted = True
    if prompt_tokens is None and prompt_text is not None:
        prompt_tokens, counted = len(tokenizer.encode(prompt_text).ids), True
    return prompt_tokens, completion_tokens, counted


def fill_relayed(target, route, sent, whole, counts):
    """A relayed whole answer without usage (hf-inference's chat route, some providers) gets the console's
    counts: the answer's texts, and the prompt when it is text (/v1/completions). `counts`: what it read."""
    if (counts.prompt_tokens is not None and counts.completion_tokens is not None) or not tokens.repo_of(target):
        return
    choices = whole.get("choices") or []
    texts = [
        ((c.get("message") or {}).get("content") if route == "chat" else c.get("text")) or ""
        for c in choices
        if isinstance(c, dict)
    ]
    prompt = sent.get("prompt") if route != "chat" and isinstance(sent.get("prompt"), str) else None
    prompt_tokens, completion_tokens, counted = fill(
        target, prompt, texts, counts.prompt_tokens, counts.completion_tokens
    )
    if not counted:
        return
    counts.prompt_tokens, counts.completion_tokens = prompt_tokens, completion_tokens
    found = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    found = {k: v for k, v in found.items() if v is not None}
    if len(found) == 2:
        found["total_tokens"] = prompt_tokens + completion_tokens
    whole["usage"] = {**(whole.get("usage") or {}), **found}
