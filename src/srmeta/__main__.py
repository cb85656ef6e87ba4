"""``python -m srmeta`` runs the command line (also what ``torchrun -m srmeta`` uses)."""

import sys

from srmeta.cli import main

sys.exit(main())
