"""Who is on duty for an organisation at a moment."""
