"""ROC AUC from score histograms, for the binary task's cumulative and rolling windows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from driftwarden.monitor.codec import Doc, need, need_dict, need_int, need_list
from driftwarden.monitor.performance.base import AUC_BINS

__all__ = ["BinnedROCAUC", "score_bin"]


@dataclass
class BinnedROCAUC:
    """ROC AUC from score histograms (Mann-Whitney over 1000 bins, ties counted half).

    River's ``ROCAUC`` is also threshold-binned, with 10 thresholds and a Python loop per update;
    this keeps 1000 bins at O(1) per example, and an example leaves as cheaply as it came (the
    rolling window), so the value depends only on which examples are counted.

    >>> auc = BinnedROCAUC()
    >>> for positive, score in [(True, 0.9), (False, 0.2), (True, 0.4), (False, 0.6)]:
    ...     auc.update(positive, score)
    >>> auc.get()
    0.75
    """

    positives: list[int] = field(default_factory=lambda: [0] * AUC_BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * AUC_BINS)

    def update(self, is_positive: bool, score: float) -> None:
        (self.positives if is_positive else self.negatives)[score_bin(score)] += 1

    def add(self, is_positive: bool, index: int, count: int) -> None:
        """Add ``count`` (negative: remove) examples to score bin ``index``."""
        (self.positives if is_positive else self.negatives)[index] += count

    def get(self) -> float:
        n_pos, n_neg = sum(self.positives), sum(self.negatives)
        if not n_pos or not n_neg:
            return math.nan
        below = 0
        area = 0.0
        for pos, neg in zip(self.positives, self.negatives, strict=True):
            area += pos * (below + neg / 2)
            below += neg
        return area / (n_pos * n_neg)

    # -- state encoding (see driftwarden.monitor.codec)
    # --------------------------------------------------

    def to_state(self) -> Doc:
        return {"positives": self.positives, "negatives": self.negatives}

    @classmethod
    def from_state(cls, doc: object) -> BinnedROCAUC:
        doc = need_dict(doc, "roc auc")
        counts = [
            need_list(need(doc, side), "roc auc", AUC_BINS) for side in ("positives", "negatives")
        ]
        return cls(*([need_int(c, "roc auc count") for c in side] for side in counts))


def score_bin(score: float) -> int:
    return min(max(int(score * AUC_BINS), 0), AUC_BINS - 1)
