"""python -m helpers.data PATH: validate a FER2013 folder and print a summary."""

import sys

from helpers.data.fer2013 import main

sys.exit(main())
