"""Embeddings and rerank runs in the playground: the same wire calls as /v1/embeddings and /v1/rerank
(`huggingface.embedding`), never the generation path, recorded in history as runs with their inputs and results."""

import logging
import math
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from providers.core import db
from providers.core.targets import target_for
from providers.huggingface import embedding, transport
from providers.huggingface.errors import HFError
from providers.models import PlaygroundRun, RunStatus, Task
from providers.playground import lifecycle

log = logging.getLogger(__name__)

EMBEDDINGS, RERANK = "embeddings", "rerank"
MODES = (EMBEDDINGS, RERANK)
FINAL_FIELDS = ["status", "vectors", "latency_ms", "error_category", "error_message", "error_detail"]
SEEN_FIELDS = ["status", "error_category", "error_message", "error_detail"]


def new_run(user, model, form):
    """The run as running, not saved yet, with what it sends: texts, or a query and documents."""
    data = form.cleaned_data
    if model.task == Task.FEATURE_EXTRACTION:
        mode, prompt, inputs = EMBEDDINGS, "\n".join(data["texts"]), {"texts": data["texts"]}
    else:
        mode, prompt, inputs = RERANK, data["query"], {"query": data["query"], "documents": data["documents"]}
    return PlaygroundRun(
        user=user,
        model=model,
        model_name=model.display_name,
        mode=mode,
        prompt=prompt,  # what history shows and searches
        vectors=inputs,
        worker=lifecycle.worker_id(),  # a crash leaves it running: the sweeps end it by this lease
        heartbeat_at=timezone.now(),
    )


def similarity(vectors):
    """The cosine similarity of every pair, to four decimals; None where a vector is all zeros."""
    norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
    size = len(vectors)
    matrix = [[None] * size for _i in range(size)]
    for i in range(size):
        for j in range(i, size):
            if norms[i] and norms[j]:
                value = sum(a * b for a, b in zip(vectors[i], vectors[j], strict=True)) / (norms[i] * norms[j])
                matrix[i][j] = matrix[j][i] = round(value, 4) if math.isfinite(value) else None
    return matrix


def _embed(target, inputs, deadline):
    found = embedding.embed(target, inputs["texts"], deadline=deadline)
    sizes = {len(v) for v in found.vectors}
    if len(sizes) != 1:
        raise HFError("bad_response", _("The server answered vectors of different lengths."))
    return {"dimensions": sizes.pop(), "similarity": similarity(found.vectors), "prompt_tokens": found.prompt_tokens}


def _rerank(target, inputs, deadline):
    ranking = embedding.rerank(target, inputs["query"], inputs["documents"], deadline=deadline)
    if not all(math.isfinite(score) for _index, score in ranking.results):
        raise HFError("bad_response", _("The rerank answer has a score that is not a number."))
    return {
        "ranking": [{"index": index, "score": score} for index, score in ranking.results],
        "prompt_tokens": ranking.prompt_tokens,
    }


def perform(run, model, started, detail=False):
    """Ask the upstream for the saved `run`, write its final state and return its events: start, then done or
    error. `detail`: the person may read the upstream's own words (an admin)."""
    # Learning the engine and the upstream's wait yield to the process's other requests (gevent): none of them may
    # wait for this request's database connection meanwhile (a bounded PostgreSQL pool), as in Relay.start.
    db.release_connection()
    error = None
    try:
        target = target_for(model)
        db.release_connection()
        deadline = transport.Deadline(settings.HF_GENERATION_TIMEOUT)
        ask = _embed if run.mode == EMBEDDINGS else _rerank
        run.vectors = {**run.vectors, **ask(target, run.vectors, deadline)}
        run.status = RunStatus.OK
    except HFError as exc:
        error = exc
    except Exception:  # a bug must still end the run truthfully
        log.exception("playground %s run %s failed", run.mode, run.pk)
        error = HFError("run_interrupted", _("The console failed while relaying this run."))
    run.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if error is not None:
        run.status = RunStatus.FAILED
        run.error_category = error.category
        run.error_message = error.page_words(detail=False)[0]
        run.error_detail = error.message if error.upstream else ""
    _save(Final(run))
    start = {"type": "start", "model": model.display_name, "mode": run.mode, "run": run.pk}
    figures = {"latency_ms": run.latency_ms}
    if error is not None:
        return [start, {"type": "error", "error": error.as_dict(model.endpoint_type, detail), "figures": figures}]
    return [start, {"type": "done", "vectors": run.vectors, "figures": figures}]


class Final:
    """A finished run's final write, retried by the process's background loop when it fails now (the relay's
    way: `lifecycle.retry_final` calls `write_final`, then `write_seen` as the last resort)."""

    def __init__(self, run):
        self.run = run
        self.failures = 0

    def write_final(self, fields=FINAL_FIELDS):
        try:
            with transaction.atomic():
                db.update(self.run, fields)
            return True
        except Exception:
            self.failures += 1
            log.warning("could not save playground run %s", self.run.pk, exc_info=self.failures == 1)
            db.reset_connection()
            return False

    def write_seen(self):
        return self.write_final(SEEN_FIELDS)


def _save(final):
    """The whole result, else how the run ended (so it never stays running), else the background's retries."""
    if final.write_final():
        return
    if final.write_seen():
        log.error("playground run %s was saved without its results, which could not be written", final.run.pk)
        return
    log.error("playground run %s could not be saved; retrying in the background", final.run.pk)
    lifecycle.retry_final(final)
