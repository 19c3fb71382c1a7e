"""python -m helpers.predict INPUT...: predict the expressions of faces (see --help)."""

import sys

from helpers.predict.cli import main

sys.exit(main())
