"""The serving engine's own metrics: its Prometheus ``/metrics`` scraped every few seconds for
the whole session, each page turned into ``Datapoint`` records (``metrics.engine``). Imports
``metrics`` only; handed the session's emit and clocks, never the session itself.
"""

from driver.engine.scraper import EngineScraper, attach_engine

__all__ = ["EngineScraper", "attach_engine"]
