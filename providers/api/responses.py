"""POST /v1/responses: OpenAI's Responses API over the console's chat completions. The request is translated
(responses_format.py) and made as a chat call (views.chat_answer: the same key, limits, upstream path and
accounting), and its answer translated back, whole or event by event."""

import json

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

from providers.api import openai_format as fmt
from providers.api import responses_format as rfmt
from providers.api.replies import RecordedResponse, error
from providers.api.views import api_view, chat_answer


@api_view("responses", "POST")
def responses(request, caller, record, generation):
    try:
        asked = fmt.parse_body(request.body)
        chat = rfmt.chat_body(asked)
    except fmt.BadRequest as exc:
        code = exc.code or "invalid_request"
        return error(400, exc.message, "invalid_request_error", code, record, param=exc.param)
    answer = chat_answer(request, caller, record, generation, chat)
    model = record.entry.api_id if record.entry is not None else asked.get("model")
    shape = rfmt.Shape(asked, model)
    if isinstance(answer, StreamingHttpResponse):
        return ResponseEvents(answer, rfmt.Events(shape, settings.HF_MAX_ANSWER_BYTES + 65536))
    if answer.status_code != 200:
        return _renamed(answer)
    completion = json.loads(answer.content)
    answer.record = None  # recorded by the answer that replaces it
    whole = RecordedResponse(rfmt.from_completion(completion, shape), record)
    for name, value in answer.items():
        if name.lower() not in ("content-type", "content-length"):
            whole[name] = value
    return whole


@api_view("responses", "GET", "POST", "DELETE")
def stored(request, caller, record, generation, rest):
    """/v1/responses/{id}[/cancel|/input_items]: the routes of a stored response, which this console never keeps."""
    message = _("This console keeps no responses, so none can be read back, cancelled or deleted.")
    return error(
        404, message, "invalid_request_error", "response_not_found", record, headers={"x-should-retry": "false"}
    )


def _renamed(answer):
    """A refusal of the chat call, naming the field the caller sent (max_output_tokens, not max_tokens)."""
    body = json.loads(answer.content)
    problem = body.get("error") if isinstance(body, dict) else None
    if isinstance(problem, dict) and problem.get("param"):
        problem["param"] = rfmt.responses_param(problem["param"])
        answer.content = json.dumps(body)
    return answer


class ResponseEvents(StreamingHttpResponse):
    """The chat stream's events as the Responses API's; closing it closes the chat stream (its upstream, its
    slot, its record)."""

    def __init__(self, chat, events):
        super().__init__(events.translate(chat.streaming_content), content_type="text/event-stream")
        for name, value in chat.items():
            if name.lower() != "content-type":
                self[name] = value
        self.chat = chat

    def close(self):
        try:
            super().close()
        finally:
            self.chat.close()
