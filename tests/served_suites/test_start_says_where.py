"""`make run` ends with the address to open, not with gunicorn's banner."""

from tests.conftest import wait_for
from tests.served import Console


def test_the_last_line_of_a_start_is_the_address_to_open(emulator, tmp_path):
    console = Console(emulator, tmp_path, "", env={"WEB_WORKERS": "2"}).start()
    try:

        def lines():
            return [line for line in console.log.read_text().splitlines() if line.strip()]

        assert wait_for(lambda: "ready" in lines()[-1], 5), lines()[-3:]
        assert lines()[-1].endswith(f"The console is ready: open {console.url}/ in a browser."), lines()[-3:]
    finally:
        console.stop()
