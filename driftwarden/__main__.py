"""``python -m driftwarden``: the same command line as the ``driftwarden`` script."""

import sys

from driftwarden.cli import main

sys.exit(main())
