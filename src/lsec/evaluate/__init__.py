"""lsec.evaluate."""
