"""Playground runs: relay a generation to the browser as it arrives, measure it, and keep it in history."""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from providers.connection_test import target_for
from providers.huggingface import client
from providers.huggingface.errors import HFError
from providers.models import HFModel, PlaygroundRun, RunStatus

log = logging.getLogger(__name__)


def visible_models(user):
    return HFModel.objects.filter(enabled=True)


def rate_limited(user):
    limit = settings.PLAYGROUND_RUNS_PER_MINUTE
    if limit <= 0:
        return False
    since = timezone.now() - timedelta(minutes=1)
    return PlaygroundRun.objects.filter(user=user, created_at__gte=since).count() >= limit


def new_run(user, model, form, compare_group=None):
    """The run, saved as running at once: history shows it and the rate limit counts it."""
    data = form.cleaned_data
    return PlaygroundRun.objects.create(
        user=user,
        model=model,
        model_name=model.display_name,
        mode="chat" if model.is_chat else "completion",
        prompt=data.get("prompt", ""),
        messages=form.chat_messages() if model.is_chat else [],
        parameters=form.parameters(),
        compare_group=compare_group,
    )


RESULT_FIELDS = [
    "status",
    "output",
    "latency_ms",
    "ttft_ms",
    "generated_tokens",
    "tokens_per_second",
    "finish_reason",
    "error_category",
    "error_message",
]


def line(event):
    return (json.dumps(event, ensure_ascii=False) + "\n").encode()


class Relay:
    """Pulls from the client generator and turns it into NDJSON lines, saving the run at the end.

    `start()` runs in the view so failures before the first token become one error line; iterating the
    relay yields each token the moment it arrives. Closing it (the browser stopped) closes the upstream.
    """

    def __init__(self, run, model, stream, started):
        self.run = run
        self.model = model
        self.stream = stream
        self.started = started  # perf_counter() when the request arrived: figures count from there
        self.first_at = None
        self.upstream_ms = 0.0
        self.parts = []
        self.generator = None
        self.pending = None
        self.finish = None
        self.error = None
        self.completed = False
        self.saved = False

    def start(self):
        """Send the request and wait for the first event (`upstream_ms` is that wait)."""
        try:
            target = target_for(self.model)
            run = self.run
            deadline = client.Deadline(settings.HF_GENERATION_TIMEOUT)
            if self.model.is_chat:
                self.generator = client.generate(
                    target, run.parameters, messages=run.messages, stream=self.stream, deadline=deadline
                )
            else:
                self.generator = client.generate(
                    target, run.parameters, prompt=run.prompt, stream=self.stream, deadline=deadline
                )
            sent = time.perf_counter()
            self.pending = next(self.generator)
            self.first_at = time.perf_counter()
            self.upstream_ms = (self.first_at - sent) * 1000
        except HFError as exc:
            self.error = exc

    def events(self):
        yield {"type": "start", "model": self.model.display_name, "stream": self.stream}
        if self.error:
            yield self._fail(self.error)
            return
        item = self.pending
        try:
            while True:
                if isinstance(item, client.Finish):
                    self.finish = item
                    break
                self.parts.append(item)
                yield {"type": "token", "text": item}
                item = next(self.generator)
        except StopIteration:
            pass
        except HFError as exc:
            yield self._fail(exc)
            return
        yield {"type": "done", "figures": self._complete(RunStatus.OK)}

    def lines(self):
        """The NDJSON lines of the run. The results are not written yet: see `save()`."""
        try:
            for event in self.events():
                yield line(event)
        except GeneratorExit:
            self._complete(RunStatus.STOPPED)
            raise
        finally:
            if self.generator is not None:
                self.generator.close()

    def __iter__(self):
        """The lines for a streamed answer; the run is written after the last one has been handed over."""
        try:
            yield from self.lines()
        finally:
            self.save()

    def _fail(self, exc):
        self.error = exc
        figures = self._complete(RunStatus.FAILED)
        return {"type": "error", "error": exc.as_dict(), "figures": figures}

    def figures(self):
        now = time.perf_counter()
        total = (now - self.started) * 1000
        ttft = (self.first_at - self.started) * 1000 if self.first_at and self.parts else None
        tokens = self.finish.generated_tokens if self.finish and self.finish.generated_tokens else len(self.parts)
        gen_seconds = (now - self.first_at) if self.first_at else 0
        if not self.stream:
            gen_seconds = total / 1000
        rate = tokens / gen_seconds if tokens and gen_seconds > 0 else None
        return {
            "latency_ms": round(total, 1),
            "ttft_ms": round(ttft, 1) if ttft is not None else None,
            "generated_tokens": tokens if self.parts or self.finish else 0,
            "tokens_per_second": round(rate, 1) if rate else None,
            "finish_reason": self.finish.finish_reason if self.finish else "",
        }

    def _complete(self, status):
        """Fix the run's results (once); they reach the database in `save()`."""
        if self.completed:
            return {}
        self.completed = True
        figures = self.figures()
        run = self.run
        run.status = status
        run.output = self.finish.text if self.finish and not self.parts else "".join(self.parts)
        run.latency_ms = figures["latency_ms"]
        run.ttft_ms = figures["ttft_ms"]
        run.generated_tokens = figures["generated_tokens"]
        run.tokens_per_second = figures["tokens_per_second"]
        run.finish_reason = figures["finish_reason"]
        if self.error:
            run.error_category = self.error.category
            run.error_message = self.error.message
        figures["run_id"] = run.pk
        return figures

    def save(self):
        """Write the results; called once the answer is out, so the write adds nothing to what the user waits.

        A run abandoned before it completed (the browser went away) is saved as stopped.
        """
        if self.saved:
            return
        self.saved = True
        self._complete(RunStatus.STOPPED)
        try:
            self.run.save(update_fields=RESULT_FIELDS)
        except Exception:  # a run that cannot be saved must not break the answer already sent
            log.exception("could not save playground run %s", self.run.pk)


def usage_by_model(model_ids=None, days=30):
    """{model_id: {"runs", "failures", "median_ms"}} over the last `days` days, for `model_ids` (None: all).

    Counted and ranked in the database (two queries, whatever the history holds): per model, the one or two
    middle latencies come back, never the whole list.
    """
    since = timezone.now() - timedelta(days=days)
    recent = PlaygroundRun.objects.filter(created_at__gte=since, model__isnull=False)
    if model_ids is not None:
        recent = recent.filter(model_id__in=list(model_ids))
    counts = recent.values("model_id").annotate(
        runs=Count("id"), failures=Count("id", filter=Q(status=RunStatus.FAILED))
    )
    by_model = F("model_id")
    middles = (
        recent.filter(status=RunStatus.OK, latency_ms__isnull=False)
        .annotate(
            rank=Window(RowNumber(), partition_by=by_model, order_by=F("latency_ms").asc()),
            count=Window(Count("id"), partition_by=by_model),
        )
        .filter(rank__gte=(F("count") + 1) / 2, rank__lte=(F("count") + 2) / 2)
        .values_list("model_id", "latency_ms")
    )
    latencies = {}
    for model_id, latency in middles:
        latencies.setdefault(model_id, []).append(latency)
    return {
        row["model_id"]: {
            "runs": row["runs"],
            "failures": row["failures"],
            "median_ms": round(sum(latencies[row["model_id"]]) / len(latencies[row["model_id"]]))
            if row["model_id"] in latencies
            else None,
        }
        for row in counts
    }


def run_as_dict(run):
    return {
        "id": run.pk,
        "model_id": run.model_id,
        "model_name": run.model_name,
        "mode": run.mode,
        "prompt": run.prompt,
        "messages": run.messages,
        "parameters": run.parameters,
        "output": run.output,
        "status": run.status,
        "error_category": run.error_category,
        "error_message": run.error_message,
        "figures": {
            "latency_ms": run.latency_ms,
            "ttft_ms": run.ttft_ms,
            "generated_tokens": run.generated_tokens,
            "tokens_per_second": run.tokens_per_second,
            "finish_reason": run.finish_reason,
        },
        "created_at": run.created_at.isoformat(),
    }
