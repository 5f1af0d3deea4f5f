"""``python -m revelio.eval [options]``: the same as ``revelio sanity [options]``."""

import sys

from revelio.cli import main

if __name__ == "__main__":
    sys.exit(main(["sanity", *sys.argv[1:]]))
