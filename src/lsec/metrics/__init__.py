"""lsec.metrics."""
