"""Measurement: record types, HDR statistics, recordings, ensure checks and the pollers.

The bottom of the layering: imports nothing else of loadwatch's.
"""
