"""Thin adapters to distributed engines people already run (DESIGN section 8): :mod:`lsec.distributed.spark`
for the graph preprocessing jobs. Nothing here is imported by the rest of lsec."""
