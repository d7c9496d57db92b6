import re

from .conftest import CASSETTES, RECORDING_KEY, SECRET_HEADERS


def test_cassettes_exist():
    assert sorted(CASSETTES.glob("*.yaml")), "no cassettes recorded"


def test_no_credential_in_any_cassette():
    for path in CASSETTES.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        assert RECORDING_KEY not in text, path
        assert not re.search(r"sk-[A-Za-z0-9_-]{16,}", text), path
        assert not re.search(r"(?im)^\s*-?\s*(" + "|".join(SECRET_HEADERS) + r")\s*:", text), path
