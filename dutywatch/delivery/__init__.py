"""Delivery of pages: what the channels report back (receipts) and how it is recorded."""
