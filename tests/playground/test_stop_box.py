"""The stop box keeps each sequence byte for byte: a line of spaces is a stop of spaces, \\n and \\t stand for a
line break and a tab (a box of lines cannot hold a line break otherwise), and what is shown reads back the same."""

import pytest

from providers.core.parameters import StopSequencesField


@pytest.mark.parametrize(
    "typed,sequences",
    [
        ("\\n", ["\n"]),
        (" ", [" "]),
        ("END\n\\n\\n\n\\t", ["END", "\n\n", "\t"]),
        ("  two spaces before\n", ["  two spaces before"]),
        ("a\\\\nb", ["a\\nb"]),  # an escaped backslash stays a backslash
        ("x\n\ny", ["x", "y"]),  # an empty line is no sequence
    ],
)
def test_the_stop_box_keeps_whitespace_and_reads_escapes(typed, sequences):
    field = StopSequencesField(required=False)
    assert field.clean(typed) == sequences
    assert field.clean(field.prepare_value(sequences)) == sequences


def test_a_list_of_stops_keeps_whitespace_sequences():
    assert StopSequencesField(required=False).clean(["\n", " ", ""]) == ["\n", " "]
