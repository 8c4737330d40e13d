"""A translated call's answer (TGI's own routes, the hosted pipelines, a chat model on /v1/completions): generate()'s
text and finish made into OpenAI's (or TGI's) answer, whole or as SSE events, the call measured as it goes."""

import time

from django.utils.translation import gettext as _

from providers.api import openai_format as fmt
from providers.api import usage
from providers.api.replies import RecordedResponse, shown, upstream_failure
from providers.core import shutdown
from providers.huggingface import adapters
from providers.huggingface.errors import HFError


class Answer:
    """Turns generate()'s items into OpenAI's answer, whole or as SSE events, measuring as it goes."""

    def __init__(self, route, entry, record, upstream, first, include_usage):
        self.route, self.entry, self.record = route, entry, record
        self.upstream, self.first, self.include_usage = upstream, first, include_usage
        self.id = fmt.new_id(route)
        self.details = False  # TGI form only: whether the caller asked for the details object
        self.target = self.prompt_text = None  # for the counts the upstream did not report
        self.parts = []
        self.finish = None
        self.token_chunk = fmt.TokenChunks(route, self.id, entry.api_id, include_usage)

    def _take(self, item):
        if isinstance(item, str):
            if not self.parts and self.record.ttft_ms is None:
                self.record.ttft_ms = round((time.perf_counter() - self.record.started) * 1000, 1)
            self.parts.append(item)
            self.record.sent += 1
        elif isinstance(item, adapters.Finish):
            self.finish = item

    def _tokens(self):
        finish = self.finish
        # The upstream's counts, kept only when they are counts (a string or an object would break the sums).
        completion = fmt.count(finish.generated_tokens) if finish else None
        prompt = fmt.count(getattr(finish, "prompt_tokens", None)) if finish else None
        if (prompt is None or completion is None) and self.target is not None:
            prompt, completion, _counted = usage.fill(self.target, self.prompt_text, [self._text()], prompt, completion)
        self.record.prompt_tokens, self.record.completion_tokens = prompt, completion
        return prompt, completion

    def _text(self):
        return "".join(self.parts) or (self.finish.text if self.finish else "")

    def whole(self):
        record = self.record
        try:
            self._take(self.first)
            for item in self.upstream:
                self._take(item)
        except HFError as exc:
            return upstream_failure(exc, record)
        finally:
            self.upstream.close()
        record.ttft_ms = None  # a whole answer has no first token to time
        reason = self.finish.finish_reason if self.finish else ""
        if self.route == "tgi":
            body = fmt.tgi_whole(self._text(), reason, self._tokens(), self.details)
            record.finish(time.perf_counter())
            return RecordedResponse(body, record, safe=False)
        body = fmt.whole(self.route, self.id, self.entry.api_id, self._text(), reason, self._tokens())
        record.finish(time.perf_counter())
        return RecordedResponse(body, record)

    def _sse(self, text=None, reason=None, first=False):
        if self.route == "tgi":
            return fmt.sse(fmt.tgi_token(len(self.parts), text))
        if text and reason is None and not first:
            return self.token_chunk(text)  # the hot path of a stream
        return fmt.sse(
            fmt.chunk(self.route, self.id, self.entry.api_id, text, reason, first, include_usage=self.include_usage)
        )

    def events(self):
        record = self.record
        item, started = self.first, False
        try:
            while True:
                if shutdown.streams_must_end():
                    raise HFError(
                        "run_interrupted",
                        _("The console is restarting, so this stream was ended. Send the request again."),
                    )
                if isinstance(item, adapters.Finish):
                    self._take(item)
                    break
                if isinstance(item, str):
                    self._take(item)
                    yield self._sse(item, first=not started)
                    started = True
                else:  # the upstream is silent: an SSE comment keeps proxies from timing out
                    yield fmt.waking_or_alive(self.upstream)
                item = next(self.upstream)
        except StopIteration:
            record.category = "connection_lost"
            yield from self._stream_error(HFError("connection_lost"))
            return
        except HFError as exc:
            record.category = exc.category
            yield from self._stream_error(exc)
            return
        except GeneratorExit:
            record.category = "client_closed"
            raise
        finally:
            self.upstream.close()
            record.finish(time.perf_counter())
        tokens = self._tokens()
        if self.route == "tgi":
            yield fmt.sse(fmt.tgi_last(len(self.parts), self._text(), self.finish.finish_reason, tokens))
            return
        if not started and self.route == "chat":
            yield self._sse("", first=True)
        yield self._sse(reason=fmt.finish_reason(self.finish.finish_reason))
        if self.include_usage and fmt.usage(*tokens):  # no usage chunk of unknown counts
            yield fmt.sse(fmt.usage_chunk(self.route, self.id, self.entry.api_id, tokens))
        yield fmt.DONE

    def _stream_error(self, exc):
        body = shown(exc, self.record)[1]
        if self.route == "tgi":  # TGI's own form, which huggingface_hub turns into its typed errors
            yield fmt.sse({"error": body["error"]["message"], "error_type": "generation"})
            return
        yield fmt.sse(body)
        yield fmt.DONE
