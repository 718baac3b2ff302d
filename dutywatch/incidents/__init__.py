"""Incidents: opened by a first report, joined by later ones, acknowledged, resolved."""
