"""A consumer that falls behind its stream (a browser that stopped reading) holds the reader back within a bounded
buffer, and what arrived in time is judged by when it arrived, not by when the consumer got to it."""

import time

from providers.huggingface import adapters, generation, reader, transport


def _target(faulty, mode):
    return generation.Target("inference_endpoint", "text-generation", endpoint_url=f"{faulty.base}/{mode}")


def test_an_answer_that_arrived_before_the_deadline_is_complete_for_a_consumer_that_comes_late(faulty):
    # five tokens 50 ms apart, then the end of the stream: all there well within the deadline
    items = generation.generate(
        _target(faulty, "close_delimited"), {}, prompt="x", stream=True, deadline=transport.Deadline(1.0)
    )
    try:
        first = next(item for item in items if item is not reader.IDLE)
        time.sleep(1.5)  # the consumer stalls past the deadline; the answer came in full meanwhile
        rest = [item for item in items if item is not reader.IDLE]
    finally:
        items.close()
    assert isinstance(first, str) and isinstance(rest[-1], adapters.Finish)


def test_a_stalled_consumer_holds_back_the_reader_within_its_buffer(faulty):
    items = generation.generate(_target(faulty, "long"), {}, prompt="x", stream=True, deadline=transport.Deadline(10.0))
    try:
        next(item for item in items if item is not reader.IDLE)
        time.sleep(1.0)  # the answer (about 300 KB) is all there upstream; the reader takes what fits
        assert 0 < items.reader.held <= reader.HELD_BYTES
        texts = [item for item in items if isinstance(item, str)]
    finally:
        items.close()
    assert len(texts) == 249  # nothing lost to the wait: the rest came once the consumer read again
