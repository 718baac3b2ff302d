"""Handover (交接班): the outgoing officer hands the duty room's open matters to the next."""
