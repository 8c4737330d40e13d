"""Token counts the console makes itself where an upstream reports none (hf-protocol.md §18): the model's own
`tokenizer.json` from the Hub, fetched once with the model's token (bounded in size and time, in the background:
a call waits for it a moment at most), kept in the shared cache; a failed fetch is remembered briefly. Without
a tokenizer nothing is counted: counts are left out rather than guessed."""

import hashlib
import logging
import threading
from collections import OrderedDict
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache

from providers.huggingface import transport, urls

log = logging.getLogger(__name__)

_KEPT = 8  # tokenizers held in each process (a large one is tens of MB in memory)
_loaded = OrderedDict()  # repo id -> tokenizers.Tokenizer
_fetching = {}  # repo id -> threading.Event set when its fetch ended
_lock = threading.Lock()


def repo_of(target):
    """The Hub repo whose tokenizer the target's model uses, or "" when the console cannot tell."""
    repo = (target.repo_id or "").partition(":")[0]
    if not repo and "/" in (target.served_model or ""):
        repo = target.served_model  # what TGI's /info or an OpenAI server's /v1/models said it serves
    return repo if repo.count("/") == 1 and len(repo) <= 160 else ""


def _key(repo, kind):
    digest = hashlib.sha256(f"{settings.HF_HUB_URL}\x1f{repo}".encode()).hexdigest()[:32]
    return f"tokenizer:{kind}:{digest}"


def tokenizer(target, wait=0.0):
    """The target's Tokenizer, or None: not to be had, or still being fetched after `wait` seconds."""
    repo = repo_of(target)
    if not repo:
        return None
    with _lock:
        found = _loaded.get(repo)
        if found is not None:
            _loaded.move_to_end(repo)
            return found
        event = _fetching.get(repo)
        if event is None:
            if cache.get(_key(repo, "failed")):
                return None
            event = _fetching[repo] = threading.Event()
            threading.Thread(target=_fetch, args=(repo, _hub_token(target), event), daemon=True).start()
    if wait > 0:
        event.wait(wait)
    with _lock:
        return _loaded.get(repo)


def _hub_token(target):
    """The target's token when it is a Hugging Face token: a self-hosted server's own key never goes to the Hub."""
    if target.endpoint_type != "inference_endpoint" or urls.huggingface_host(target.endpoint_url):
        return target.token or None
    return None


def _fetch(repo, token, event):
    from tokenizers import Tokenizer

    try:
        raw = cache.get(_key(repo, "json"))
        if raw is None:
            url = urls.join(settings.HF_HUB_URL, f"/{quote(repo, safe='/')}/resolve/main/tokenizer.json")
            deadline = transport.Deadline(settings.TOKENIZER_TIMEOUT)
            raw = transport.download(url, token, deadline, settings.TOKENIZER_MAX_BYTES)
            found = Tokenizer.from_str(raw.decode())
            cache.set(_key(repo, "json"), raw, settings.TOKENIZER_CACHE_SECONDS)
        else:
            found = Tokenizer.from_str(raw.decode())
        with _lock:
            _loaded[repo] = found
            while len(_loaded) > _KEPT:
                _loaded.popitem(last=False)
    except Exception as exc:  # a missing file, a gated repo, a file tokenizers cannot read
        log.info("no tokenizer for %s: %s", repo, getattr(exc, "category", type(exc).__name__))
        cache.set(_key(repo, "failed"), True, settings.TOKENIZER_RETRY_SECONDS)
    finally:
        with _lock:
            _fetching.pop(repo, None)
        event.set()


def count(target, text, prompt=False, wait=0.0):
    """The tokens of `text` by the model's tokenizer (a prompt with the special tokens the server adds), or None."""
    found = tokenizer(target, wait) if isinstance(text, str) else None
    if found is None:
        return None
    return len(found.encode(text, add_special_tokens=prompt).ids)


def forget():
    """Drop the tokenizers this process holds (tests)."""
    with _lock:
        _loaded.clear()
