"""The Python examples in docs/ run, and the test functions they define pass."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
RUNNABLE = ["extending.md"]


def _python_blocks(page: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))


@pytest.mark.parametrize("page", RUNNABLE)
def test_examples_run_and_their_tests_pass(page):
    namespace: dict = {}
    exec(compile(_python_blocks(DOCS / page), str(DOCS / page), "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]
    assert tests, f"{page} defines no test functions"
    for test in tests:
        test()
