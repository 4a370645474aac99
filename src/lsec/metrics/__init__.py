"""Evaluation metrics (DESIGN section 5): candidate-list ranking, grouped AUC, macro-F1.

Definitions are part of the API and documented with their maths in each module.
"""

from lsec.metrics.classification import MacroF1, confusion_matrix, f1_per_class, macro_f1
from lsec.metrics.grouped import GroupedAUC, GroupedAUCMetric, auc, gauc, grouped_auc, task_metrics, uauc
from lsec.metrics.ranking import (
    CandidateMetrics,
    CandidateResult,
    candidate_metrics,
    candidate_metrics_detail,
    ndcg_at_k,
    recall_at_k,
)

__all__ = [
    "CandidateMetrics",
    "CandidateResult",
    "GroupedAUC",
    "GroupedAUCMetric",
    "MacroF1",
    "auc",
    "candidate_metrics",
    "confusion_matrix",
    "candidate_metrics_detail",
    "f1_per_class",
    "gauc",
    "grouped_auc",
    "macro_f1",
    "ndcg_at_k",
    "recall_at_k",
    "task_metrics",
    "uauc",
]
