"""``python -m sandbox``: the sandbox in the foreground (see ``sandbox.cli``)."""

import sys

from sandbox.cli import main

sys.exit(main())
