"""Formats other systems already speak, translated to report v1 for the one intake path.

CAP 1.2 (``cap``), PagerDuty Events API v2 (``pagerduty``) and Prometheus Alertmanager
webhooks (``alertmanager``) are pure decoders and translators; ``intake`` publishes their
reports into REPORTS and carries their actions out through the incident commands.
"""
