"""The paper's experiments and report: ``python -m pipeline experiment NAME`` and ``python -m pipeline report``.

Nothing in the core pipeline imports this package (``tests/test_import_rules.py`` checks it); the CLI
imports it inside its ``experiment`` and ``report`` commands. This file imports nothing: each module is
imported by name (``from pipeline.experiments.report import write_report``).

- ``tables`` the experiments by name (Table 1 backbones, Table 2 augmentation, leakage, generalization)
- ``runner`` the corpus, cached features and the cross-validated rows they share
- ``cv`` fold caches, per-fold scores and summaries
- ``generalize`` the generalization rows (issue 12)
- ``backbones`` other ImageNet backbones, frozen; ``scratch`` MobileNetV2 trained from scratch;
  ``finetune`` partial fine-tuning; ``feature_sets`` pooled features from several blocks
- ``report``, ``report_figures``, ``report_generalize`` the Markdown report and its figures
"""
