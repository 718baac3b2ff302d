"""Post-incident review figures (issue 5): pure figures, their store, the printable report."""
