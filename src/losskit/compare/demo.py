"""The two parts of ``losskit demo`` (recommend -> compare -> report on the datasets that ship with losskit).

(a) ``outlier_regression``: a known line with 10 % gross, high-leverage
errors in the target; metrics are computed against the noise-free line
(``--eval-target y_line``), so the report shows which loss recovers it.
(b) ``imbalanced_classification``: about 4 % positives, judged by AUPRC.

No arguments and no network; under a minute on two cores. Each part is an
ordinary resumable ``compare`` run folder under ``OUT/``; the command is
:func:`losskit.cli.compare.run_demo`.
"""

from __future__ import annotations

# (title, compare settings); features and eval_target follow the dataset cards
PARTS = (
    ("regression with gross outliers", {
        "data": "outlier_regression", "target": "y", "features": ["x1", "x2", "x3", "x4"], "eval_target": "y_line",
        "metric": "rmse,mae,median_ae,r2", "name": "regression"}),
    ("imbalanced classification", {
        "data": "imbalanced_classification", "target": "label",
        "metric": "auprc,auroc,log_loss,balanced_accuracy,f1,ece", "name": "classification"}),
)
