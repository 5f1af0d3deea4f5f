"""The Python examples in docs/featureviz.md run, and the test functions they define pass."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "featureviz.md"


def test_featureviz_page_examples_run_and_their_tests_pass():
    code = "\n".join(re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL))
    namespace: dict = {}
    exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102 - our own docs
    tests = [value for name, value in namespace.items() if name.startswith("test_") and callable(value)]
    assert tests, "docs/featureviz.md defines no test functions"
    for test in tests:
        test()
