"""docs/apikeys.md "secret_scanning_pattern": the regex and checksum rule others scan with.

Read from the documentation itself, so the page and the keys cannot drift apart: the documented
regex finds every key the service issues (also inside surrounding text), and the documented
checksum rule accepts them and refuses a changed one.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

from apikeys import crypto
from tests.apikeys.conftest import make_api_key

pytestmark = pytest.mark.django_db

DOC = Path(settings.BASE_DIR) / "docs" / "apikeys.md"


def documented_section() -> str:
    text = DOC.read_text()
    start = text.index("### `secret_scanning_pattern`")
    return text[start : text.index("\n## ", start)]


def documented_pattern() -> re.Pattern:
    [pattern] = re.findall(r"```regex\n(.+?)\n```", documented_section())
    return re.compile(pattern)


def documented_checksum_rule():
    [source] = re.findall(r"```python\n(.+?)```", documented_section(), flags=re.S)
    namespace = {}
    exec(compile(source, str(DOC), "exec"), namespace)  # the documentation's own code
    return namespace["is_keyward_key"]


def issued_keys(user, n: int = 20) -> list[str]:
    return [make_api_key(user)[1] for _ in range(n)]


def test_documented_regex_finds_issued_keys_in_surrounding_text(user):
    pattern = documented_pattern()

    for raw in issued_keys(user):
        text = f'export KEYWARD_API_KEY="{raw}"\n# deploy'
        assert pattern.findall(text) == [raw]


def test_documented_regex_also_finds_canary_keys(user):
    _, raw = make_api_key(user, key_type="canary")

    assert documented_pattern().fullmatch(raw)


def test_documented_regex_ignores_longer_runs_and_other_prefixes():
    raw = crypto.generate_key()
    pattern = documented_pattern()

    assert pattern.search(raw + "x") is None
    assert pattern.search("x" + raw) is None
    assert pattern.search("zz" + raw[2:]) is None


def test_documented_checksum_rule_accepts_issued_keys(user):
    is_keyward_key = documented_checksum_rule()

    assert all(is_keyward_key(raw) for raw in issued_keys(user))


def test_documented_checksum_rule_refuses_a_changed_key(user):
    is_keyward_key = documented_checksum_rule()
    raw = issued_keys(user, n=1)[0]

    for position in (3, 20, len(raw) - 7, len(raw) - 1):
        changed = raw[:position] + ("A" if raw[position] != "A" else "B") + raw[position + 1 :]
        assert not is_keyward_key(changed)
        assert not crypto.is_well_formed(changed)  # and Keyward agrees
