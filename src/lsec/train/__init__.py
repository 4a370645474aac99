"""lsec.train."""
