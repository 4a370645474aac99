"""Data analyses and HTML reports: streamers' influence tests, dataset overview, training-run reports."""

from lsec.analysis.influence import InfluenceResult, PatternResult, analyze_influence
from lsec.analysis.overview import DatasetOverview, dataset_overview
from lsec.analysis.report import influence_report, write_influence_report, write_runs_report

__all__ = [
    "DatasetOverview",
    "InfluenceResult",
    "PatternResult",
    "analyze_influence",
    "dataset_overview",
    "influence_report",
    "write_influence_report",
    "write_runs_report",
]
