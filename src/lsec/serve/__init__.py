"""lsec.serve."""
