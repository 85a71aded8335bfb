"""The open-model schedule, pure: the rate over time from the phases and live control
(``rate``), and one worker's intended send times through it (``pacer``). Reads no clock.
May import nothing of ours.
"""

from driver.schedule.pacer import Pacer
from driver.schedule.rate import Control, Phase, RateFunction

__all__ = [
    "Control",
    "Pacer",
    "Phase",
    "RateFunction",
]
