"""The exit codes of ``loadwatch run`` and the monitor, as ``--help`` prints them."""

EXIT_CODES = """\
exit codes (headless and the monitor alike):
  0    the run completed and its ensure checks held (or it had none)
  1    an ensure check failed
  2    bad input or setup error: one line says what (file, line, field)
  3    incomplete: a lost worker's share could not be taken over
  4    not one request succeeded, whatever ensure says
  130  stopped before the schedule ended: Ctrl-C, SIGTERM, the terminal closed (SIGHUP),
       or the monitor's q while load still ran (load stopped, scaling restored, recording
       finished first). In the monitor, q after the run ended exits with the run's own code."""
