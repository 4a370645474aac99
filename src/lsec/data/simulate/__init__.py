"""lsec.data.simulate."""
