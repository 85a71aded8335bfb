"""The ``loadwatch`` command line: the parser (``cli``) and one module per command, each with
``register(subparsers)`` and its handler. May import ``tui.console``, ``tui.monitor`` (inside
handlers: Textual loads only for the monitor), ``tui.report``, ``driver``, ``metrics``, ``sandbox``.
"""
