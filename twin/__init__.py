"""The calibrated twin of an endpoint (issue 21): its file (``twin.model``), its fit from
recordings (``twin.fit``), the sandbox run on a virtual clock (``twin.virtual``) and scaling
policies tried on it (``twin.whatif``). Imports metrics, sandbox and driver (schedule, profile,
prices); never textual.
"""
