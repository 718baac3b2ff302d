"""dutywatch: emergency report routing, escalation and tamper-evident timelines for duty rooms."""

__version__ = "0.1.0"
