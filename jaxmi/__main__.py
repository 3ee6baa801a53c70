"""``python -m jaxmi``: the jaxmi command line."""

import sys

from jaxmi.cli import main

sys.exit(main())
