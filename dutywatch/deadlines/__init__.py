"""Statutory reporting deadlines: who must be told, by when, and what counts as late.

``table.py`` holds the deadline table (policy, not constants); ``rules.py`` the pure rules.
"""
