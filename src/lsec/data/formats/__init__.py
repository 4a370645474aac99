"""lsec.data.formats."""
