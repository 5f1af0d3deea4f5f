"""``python -m revelio`` runs the command line (also under ``torchrun``)."""

import sys

from revelio.cli import main

sys.exit(main())
