"""The terminal side of loadwatch: the CLI (``commands``), a session on a plain terminal
(``console``), the Textual monitor (``monitor``) and the report renderers (``report``).
May import ``driver``, ``metrics`` and ``sandbox``; nothing imports it.
"""
