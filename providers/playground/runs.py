"""Playground runs: relay a generation to the browser as it arrives, measure it, and keep it in history."""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from providers.core import db, quotas
from providers.core.ndjson import line
from providers.core.targets import target_for
from providers.huggingface import adapters, catalog, generation, numbers, reader, transport
from providers.huggingface import tokens as hf_tokens
from providers.huggingface.errors import ADMIN_HINTS, HFError, upstream_words, wording
from providers.models import EMBEDDING_TASKS, HFModel, PlaygroundRun, RunStatus
from providers.playground import lifecycle as run_lifecycle

log = logging.getLogger(__name__)


def visible_models(user, vectors=False):
    """The models a person can run here: the enabled ones; with `vectors`, the embeddings and rerank models too
    (the playground has their modes; compare sets generations side by side)."""
    models = HFModel.objects.filter(enabled=True)
    return models if vectors else models.exclude(task__in=EMBEDDING_TASKS)


def rate_limited(user):
    """Take this run's token from the person's runs per minute, before the run starts (so a burst of runs
    cannot all see room the others are about to use); True when there is none left."""
    try:
        quotas.take_rate([(f"runs-user-{user.pk}", settings.PLAYGROUND_RUNS_PER_MINUTE)])
    except quotas.Limited:
        return True
    return False


def new_run(user, model, form, compare_group=None):
    """The run as running, not saved yet: `Relay.start` writes it while the upstream works on the request. From
    then on history shows it, the rate limit counts it, and it names the process that owns it."""
    data = form.cleaned_data
    return PlaygroundRun(
        user=user,
        model=model,
        model_name=model.display_name,
        mode="chat" if model.is_chat else "completion",
        prompt=data.get("prompt", ""),
        messages=form.chat_messages() if model.is_chat else [],
        parameters=form.parameters(),
        compare_group=compare_group,
        conversation=data.get("conversation") if model.is_chat else None,
        worker=run_lifecycle.worker_id(),
        heartbeat_at=timezone.now(),
    )


RESULT_FIELDS = [
    "status",
    "output",
    "latency_ms",
    "ttft_ms",
    "generated_tokens",
    "tokens_counted",
    "tokens_per_second",
    "finish_reason",
    "error_category",
    "error_message",
    "error_detail",
    "browser_stopped_reading",
]
# What the person saw, written alone when the whole result cannot be (a figure the database refuses, or the
# background retries given up): the run then says how it ended and keeps its text, without its figures.
SEEN_FIELDS = ["status", "output", "finish_reason", "error_category", "error_message", "error_detail"]
SAVE_RETRIES = (0.2, 0.5, 1.0)  # waits between the attempts at a run's final write
WAIT_EVERY = 1.0  # seconds between two wait lines: a gone browser shows as a failed write within about that


COUNT_WAIT = 1.0  # seconds a run's end waits for its model's tokenizer the first time (no longer: nobody is told)
MIN_RATE_SPAN = 0.2  # seconds between the first and the last token below which tokens/s is not measured


def token_line(text):
    """line({"type": "token", "text": text}), the same bytes, without building and walking a dict per token."""
    return b'{"type": "token", "text": ' + json.dumps(text, ensure_ascii=False).encode() + b"}\n"


class Relay:
    """Pulls from generate() and turns it into NDJSON lines, saving the run at the end.

    `start()` runs in the view so failures within the first second become one error line; iterating the relay
    yields each token the moment it arrives, and a wait line each second the upstream is silent (a closed tab
    makes that write fail, which closes the upstream). Closing it (the browser stopped) closes the upstream.
    While it runs, the process's checkpoint loop saves its output so far (see run_lifecycle).
    """

    def __init__(self, run, model, stream, started, detail=False):
        self.run = run
        self.detail = detail  # the person may see an upstream's own words (an admin), not only the category's
        self.model = model
        self.stream = stream
        self.started = started  # perf_counter() when the request arrived: figures count from there
        self.first_at = None  # the first token from upstream
        self.last_at = None  # the latest token
        self.waited_at = None
        self.deadline = None
        self.woke = False  # the endpoint's waking was announced
        self.upstream_ms = 0.0
        self.parts = []
        self.checkpointed = 0  # how many parts the last checkpoint saved
        self.generator = None
        self.target = None  # for the tokens the server did not count
        self.iterator = None
        self.pending = None
        self.finish = None
        self.error = None
        self.completed = False
        self.saved = False
        self.write_failures = 0

    def start(self):
        """Send the request, write the run while the upstream works on it, then wait for the first item: a token,
        the whole answer, or a second of silence. The run is in the database before anything of it is shown; a
        failed write (DatabaseError) closes the upstream and reaches the caller."""
        # Learning the engine (a request upstream, once per model) and sending yield to the other requests of the
        # process (gevent): none of them may wait for this request's connection meanwhile (a bounded PostgreSQL
        # pool), so it goes back first, and again after learning the engine, which may have saved it.
        db.release_connection()
        try:
            target = self.target = target_for(self.model)
            db.release_connection()
            run = self.run
            deadline = self.deadline = transport.Deadline(settings.HF_GENERATION_TIMEOUT)
            sent = time.perf_counter()
            if self.model.is_chat:
                self.generator = generation.generate(
                    target, run.parameters, messages=run.messages, stream=self.stream, deadline=deadline
                )
            else:
                self.generator = generation.generate(
                    target, run.parameters, prompt=run.prompt, stream=self.stream, deadline=deadline
                )
        except HFError as exc:
            self.error = exc
        if self.run.pk is None:
            try:
                db.insert(self.run)
            except BaseException:
                if self.generator is not None:
                    self.generator.close()
                raise
        db.release_connection()  # the run's write took one again; the wait must not hold it
        run_lifecycle.track(self)
        if self.error is None:
            try:
                self.pending = next(self.generator)
                self.upstream_ms = (time.perf_counter() - sent) * 1000
            except HFError as exc:
                self.error = exc

    @property
    def answered(self):
        """The whole answer (or a failure) is already here: one plain response carries it. A whole answer that
        takes longer than a second is streamed too, so that its wait lines reach the browser."""
        return self.error is not None or (not self.stream and self.pending is not reader.IDLE)

    def events(self):
        """The run's events: dicts, and each token already as its NDJSON line (bytes)."""
        yield {"type": "start", "model": self.model.display_name, "stream": self.stream, "run": self.run.pk}
        if self.error:
            yield self._fail(self.error)
            return
        item = self.pending
        try:
            while True:
                if run_lifecycle.draining():
                    yield self._fail(
                        HFError(
                            "run_interrupted",
                            _("The console is restarting, so this run was ended. The text so far is kept."),
                        ),
                        RunStatus.INTERRUPTED,
                    )
                    return
                if isinstance(item, adapters.Finish):
                    self.finish = item
                    break
                if isinstance(item, str):  # anything else but IDLE is not part of the answer
                    self.last_at = time.perf_counter()
                    self.first_at = self.first_at or self.last_at
                    self.parts.append(item)
                    yield token_line(item)  # already a line: the hot path of a stream
                elif item is reader.IDLE:
                    wait = self._wait()
                    if wait:
                        yield wait
                item = next(self.generator)
        except StopIteration:
            pass
        except HFError as exc:
            yield self._fail(exc)
            return
        except Exception:  # a bug must still end the run truthfully
            log.exception("relaying playground run %s failed", self.run.pk)
            yield self._fail(HFError("run_interrupted", _("The console failed while relaying this run.")))
            return
        if self.finish is None:
            yield self._fail(HFError("connection_lost"))
            return
        yield {"type": "done", "figures": self._complete(RunStatus.OK)}

    def _wait(self):
        now = time.perf_counter()
        waking = self.deadline.waking_since if self.deadline else None
        if waking is not None and not self.woke:
            self.woke = True  # the endpoint began waking: said at once, then each second with the others
        elif self.waited_at is not None and now - self.waited_at < WAIT_EVERY * 0.9:
            return None
        self.waited_at = now
        if waking is not None:
            waited_ms = round((time.monotonic() - waking) * 1000)
            return {"type": "wait", "for": "wake", "waited_ms": waited_ms, "limit_s": settings.HF_SCALE_UP_TIMEOUT}
        since = self.last_at or self.started
        return {
            "type": "wait",
            "for": "next_token" if self.parts else "first_token",
            "waited_ms": round((now - since) * 1000),
        }

    def lines(self):
        """The NDJSON lines of the run. The results are not written yet: see `save()`. A first token that is
        already here leaves in one write with the start line."""
        try:
            held = None
            for index, event in enumerate(self.events()):
                data = event if isinstance(event, bytes) else line(event)
                if index == 0 and isinstance(self.pending, str):
                    held = data
                    continue
                if held is not None:
                    data, held = held + data, None
                yield data
            if held is not None:
                yield held
        except GeneratorExit:
            self._browser_left()
            raise
        finally:
            if self.generator is not None:
                self.generator.close()

    def _browser_left(self):
        """The browser went away (or stopped reading until its connection broke) before the last line. What the
        upstream had already sent is read without waiting: a complete answer keeps its run "ok" with the whole
        text, and the run notes that the browser did not take it all."""
        self.run.browser_stopped_reading = True
        if self.completed:  # its last lines were not taken
            return
        received = getattr(self.generator, "received", None)
        if received is not None and self.error is None:
            for item in received():
                if isinstance(item, adapters.Finish):
                    self.finish = item
                    self._complete(RunStatus.OK)
                    return
                if isinstance(item, str):
                    self.parts.append(item)
        self._complete(RunStatus.STOPPED)

    def __iter__(self):
        """The lines for a streamed answer; the run is written after the last one has been handed over."""
        self.iterator = self._stream()
        return self.iterator

    def _stream(self):
        try:
            joined = getattr(self.generator, "joined", None)
            yield from joined(self.lines()) if joined else self.lines()
        finally:
            self.save()

    def close(self):
        """The server is done with the response (a failed write to a gone browser included): end the run now,
        not when the garbage collector gets to it, so the upstream connection is closed at once."""
        if self.iterator is not None:
            self.iterator.close()
        else:
            if self.generator is not None:
                self.generator.close()
            self.save()

    def _fail(self, exc, status=RunStatus.FAILED):
        self.error = catalog.suggest_switch(exc, self.model.endpoint_type, self.model.repo_id)
        figures = self._complete(status)
        return {"type": "error", "error": exc.as_dict(self.model.endpoint_type, self.detail), "figures": figures}

    def figures(self):
        """Only what was measured or reported: None stands for "not reported" on the page.

        Tokens: the count the server reported, else (streams) the tokens received. Time to first token exists only
        for streams. Tokens/s: for a stream, the tokens over the time from the first to the last token; for a whole
        answer, the tokens over the whole latency (what the person waited for them).
        """
        now = time.perf_counter()
        total = (now - self.started) * 1000
        streamed = self.stream and self.first_at is not None
        tokens = numbers.count(self.finish.generated_tokens) if self.finish else None  # as reported, or None
        counted = False
        if tokens is None and self.finish is not None and self.target is not None:
            # The server said nothing: the model's own tokenizer counts the answer (a second at most, the first
            # time, while it is fetched; then it is kept).
            text = self.finish.text if not self.parts else "".join(self.parts)
            tokens = hf_tokens.count(self.target, text, wait=COUNT_WAIT) if text else None
            counted = tokens is not None
        ttft = (self.first_at - self.started) * 1000 if streamed else None
        span = (self.last_at - self.first_at) if streamed else 0
        # A burst (a buffering proxy, a tiny answer) is too short to time: no rate rather than 100,000 tokens/s.
        if streamed:
            rate = tokens / span if tokens and span >= MIN_RATE_SPAN else None
        else:  # the whole wait is measured however short: no burst to mistake for a rate
            rate = tokens / (total / 1000) if tokens and not self.stream and total > 0 else None
        return {
            "latency_ms": round(total, 1),
            "ttft_ms": round(ttft, 1) if ttft is not None else None,
            "generated_tokens": tokens,
            "tokens_counted": counted,
            "tokens_per_second": round(rate, 1) if rate else None,
            "finish_reason": self.finish.finish_reason if self.finish else "",
        }

    def unsaved_output(self):
        """(count, text) of the output the last checkpoint has not saved, or (count, None)."""
        count = len(self.parts)
        if count == self.checkpointed or self.completed:
            return count, None
        return count, "".join(self.parts[:count])

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
        run.tokens_counted = figures["tokens_counted"]
        run.tokens_per_second = figures["tokens_per_second"]
        run.finish_reason = figures["finish_reason"]
        if self.error:
            run.error_category = self.error.category
            run.error_message = self.error.page_words(detail=False)[0]
            run.error_detail = self.error.message if self.error.upstream else ""
        figures["run_id"] = run.pk
        return figures

    def save(self):
        """Write the results; called once the answer is out, so the write adds nothing to what the user waits.

        A run abandoned before it completed (the browser went away) is saved as stopped. A failed write is
        retried here a few times, then by the process's background loop; every failure is logged.
        """
        if self.saved:
            return
        self.saved = True
        self._complete(RunStatus.STOPPED)
        ok = self.write_final()
        for wait in SAVE_RETRIES:
            if ok:
                break
            time.sleep(wait)
            ok = self.write_final()
        if not ok and self.write_seen():
            ok = True
            log.error("playground run %s was saved without its figures, which could not be written", self.run.pk)
        run_lifecycle.untrack(self)
        if not ok:
            log.error("playground run %s could not be saved; retrying in the background", self.run.pk)
            run_lifecycle.retry_final(self)

    def write_final(self, fields=RESULT_FIELDS):
        try:
            with transaction.atomic():  # in a caller's transaction, a savepoint: a failure leaves it usable
                db.update(self.run, fields)
            return True
        except Exception:
            self.write_failures += 1
            # One traceback per run: a write retried for minutes must not flood the log with the same one.
            log.warning("could not save playground run %s", self.run.pk, exc_info=self.write_failures == 1)
            db.reset_connection()
            return False

    def write_seen(self):
        """Write only what the person saw (status, text, error): the last resort when the whole result fails."""
        return self.write_final(SEEN_FIELDS)


STOP_WAIT_SECONDS = 3.0  # how long a Stop waits for the relay to save the run it stopped


def keep_shown(run, shown):
    """The run as the person stopped it: its output cut to the `shown` characters the page had displayed.

    The relay ends a run when it notices the browser went away, by then having sent a few more tokens than the page
    showed (they were on the way when Stop was pressed); the person's record is what they saw. The server's token
    count and rate were for the longer text, so they are no longer reported. Waits for the relay's own save first
    (another process may hold the run), for at most STOP_WAIT_SECONDS. Returns the run as it is then."""
    until = time.monotonic() + STOP_WAIT_SECONDS
    while run.status == RunStatus.RUNNING and time.monotonic() < until:
        time.sleep(0.1)
        run.refresh_from_db()
    if run.status not in (RunStatus.STOPPED, RunStatus.OK) or len(run.output) <= shown:
        return run
    changed = PlaygroundRun.objects.filter(pk=run.pk, status=run.status, output=run.output).update(
        output=run.output[:shown],
        status=RunStatus.STOPPED,
        generated_tokens=None,
        tokens_per_second=None,
        finish_reason="",
    )
    if changed:
        run.refresh_from_db()
    return run


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


def history(user, query=""):
    """The user's runs, newest first, a conversation once (by its latest turn), filtered by a search."""
    later_turn = PlaygroundRun.objects.filter(
        conversation=OuterRef("conversation"), conversation__isnull=False, pk__gt=OuterRef("pk")
    )
    runs = user.runs.exclude(Exists(later_turn))
    if query:
        runs = runs.filter(
            Q(prompt__icontains=query)
            | Q(model_name__icontains=query)
            | Q(output__icontains=query)
            | Q(messages__icontains=query)
        )
    return runs.only(
        "id", "user_id", "model_name", "prompt", "messages", "status", "created_at", "mode", "conversation"
    )


def run_title(run):
    """What a history entry says: the prompt, or a conversation's first message."""
    if run.prompt and run.mode != "chat":
        return run.prompt
    first = next((m["content"] for m in run.messages if m.get("role") == "user"), "")
    if isinstance(first, list):  # a message with an image: its text
        first = " ".join(p.get("text", "") for p in first if isinstance(p, dict) and p.get("type") == "text").strip()
    return first or run.prompt


def run_as_dict(run, detail=False):
    """The run as its page reads it; `detail`: the reader may see the upstream's own words (an admin)."""
    title, advice = "", ""
    if run.error_category:
        kind = run.model.endpoint_type if run.model else ""
        repo_id = run.model.repo_id if run.model else ""
        variant, context = catalog.switch_words(run.error_category, kind, repo_id, cached_only=True)
        title, advice = wording(run.error_category, kind, variant, **context)
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
        "browser_stopped_reading": run.browser_stopped_reading,
        "error_category": run.error_category,
        "error_message": run.error_message,
        "error_upstream": upstream_words(run.error_category, run.error_detail, detail),
        "error_admin_hint": str(ADMIN_HINTS.get(run.error_category, "")) if detail else "",
        "error_title": title,
        "error_advice": advice,
        "conversation": str(run.conversation) if run.conversation else "",
        "vectors": run.vectors,  # an embeddings or rerank run's inputs and results (playground/vectors.py)
        "figures": {
            "latency_ms": run.latency_ms,
            "ttft_ms": run.ttft_ms,
            "generated_tokens": run.generated_tokens,
            "tokens_counted": run.tokens_counted,
            "tokens_per_second": run.tokens_per_second,
            "finish_reason": run.finish_reason,
        },
        "created_at": run.created_at.isoformat(),
    }
