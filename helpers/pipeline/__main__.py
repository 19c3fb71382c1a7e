"""python -m helpers.pipeline: run the notebooks and build the PDF (see --help)."""

import sys

from helpers.pipeline.run import main

sys.exit(main())
