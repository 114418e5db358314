"""``python -m ssd_edu.bench``: the same as ``python -m ssd_edu bench``."""
import sys

from .cli import main

sys.exit(main())
