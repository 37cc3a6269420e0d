"""The source never unpickles, never evaluates text as code, and loads torch weights only safely."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import pytest

from conftest import REPO

SOURCES = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "tests").rglob("*.py"))
FORBIDDEN = {
    "pickle": re.compile(r"\bc?[pP]ickle\b(?!d)"),
    "joblib": re.compile(r"\bjoblib\b"),
    "eval": re.compile(r"(?<![\w.])eval\s*\("),
    "exec": re.compile(r"(?<![\w.])exec\s*\("),
    "marshal or shelve": re.compile(r"\bimport\s+(marshal|shelve)\b"),
}
TORCH_LOAD = re.compile(r"torch\.load\(([^()]|\([^()]*\))*\)", re.S)


def _code(path: Path) -> str:
    """The file's code: comments dropped and every string emptied (prose may name these words)."""
    with path.open("rb") as handle:
        tokens = [
            token._replace(string='""') if token.type == tokenize.STRING else token
            for token in tokenize.tokenize(handle.readline)
            if token.type != tokenize.COMMENT
        ]
    return tokenize.untokenize(tokens).decode("utf-8")


def test_the_scan_covers_the_package() -> None:
    assert any(path.name == "bundle.py" for path in SOURCES)
    assert any(path.name == "policy.py" for path in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(REPO)))
def test_no_unsafe_loading_or_code_from_text(path: Path) -> None:
    if path == Path(__file__):
        return  # this file names the patterns it looks for
    code = _code(path)
    for name, pattern in FORBIDDEN.items():
        assert not pattern.search(code), f"{path.name} uses {name}"
    for call in TORCH_LOAD.finditer(code):
        assert "weights_only=True" in call.group(0), f"{path.name}: {call.group(0)}"


def test_the_patterns_catch_what_they_should() -> None:
    assert FORBIDDEN["pickle"].search("import pickle")
    assert FORBIDDEN["eval"].search("x = eval(text)")
    assert not FORBIDDEN["eval"].search("network.eval()")
    assert FORBIDDEN["exec"].search("exec(code)")
    call = TORCH_LOAD.search("torch.load(io.BytesIO(weights))")
    assert call and "weights_only=True" not in call.group(0)


def test_code_is_scanned_but_prose_is_not(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""We never pickle."""\nimport pickle  # eval(\nx = "exec("\n')
    code = _code(sample)
    assert FORBIDDEN["pickle"].search(code)
    assert not FORBIDDEN["eval"].search(code) and not FORBIDDEN["exec"].search(code)
    assert "never" not in code
