"""The Simplified Chinese catalog is complete, consistent with the source, and used by the pages."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_every_string_is_translated_with_the_same_placeholders():
    po = polib.pofile(str(CATALOG))
    assert len(po) > 250
    assert not po.untranslated_entries() and not po.fuzzy_entries()
    for entry in po:
        translated = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
        assert set(PLACEHOLDER.findall(entry.msgid)) == set(PLACEHOLDER.findall(translated)), entry.msgid


def test_catalog_holds_every_string_of_the_source(tmp_path):
    if not shutil.which("xgettext"):
        pytest.skip("GNU gettext is not installed (apt-get install gettext); CI installs it")
    work = tmp_path / "src"
    shutil.copytree(
        ROOT,
        work,
        ignore=shutil.ignore_patterns(
            ".venv", "staticfiles", "data", ".git", "*.mo", "node_modules", "__pycache__", "test-artifacts"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "zh_Hans",
            "--ignore=tests",
            "--ignore=staticfiles",
            "--no-obsolete",
        ],
        cwd=work,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    fresh = {e.msgid for e in polib.pofile(str(work / CATALOG.relative_to(ROOT)))}
    shipped = {e.msgid for e in polib.pofile(str(CATALOG)) if not e.obsolete}
    assert fresh - shipped == set(), "run makemessages and translate the new strings"


def test_compiled_catalog_is_used(settings):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("Model Providers") == "模型供应商"
        assert str(translation.gettext("Test connection")) == "测试连接"
