"""`python -m ginr_core.cli`: the `ginr` command without its console script."""

import sys

from . import main

sys.exit(main())
