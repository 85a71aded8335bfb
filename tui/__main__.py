"""``python -m tui`` is ``loadwatch`` (the tests and benchmarks run the CLI this way)."""

import sys

from tui.commands.cli import main

sys.exit(main())
