"""The Python examples in docs/ that check themselves run, and the test functions they define pass.

A page whose ```python blocks define a ``test_`` function is run whole: its blocks in
one namespace, in order. Pages whose examples only illustrate (they load downloaded
weights, or your own data) are read, not run.
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(page.name for page in DOCS.glob("*.md") if re.search(r"^def test_", page.read_text(), flags=re.M))


def _python_blocks(page: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))


def test_the_pages_with_examples_are_found():
    assert {"extending.md", "featureviz.md"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_examples_run_and_their_tests_pass(page):
    namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
    exec(compile(_python_blocks(DOCS / page), str(DOCS / page), "exec"), namespace)  # noqa: S102 - our own docs
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]
    for test in tests:
        test()
