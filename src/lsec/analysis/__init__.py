"""lsec.analysis."""
