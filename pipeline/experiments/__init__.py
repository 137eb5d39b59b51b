"""The paper's experiments and report: ``python -m pipeline experiment NAME`` and ``python -m pipeline report``.

Nothing in the core pipeline imports this package (``tests/project/test_import_rules.py`` checks it); the CLI
imports it inside its ``experiment`` and ``report`` commands. This file imports nothing: each module is
imported by name (``from pipeline.experiments.report import write_report``). Where things are::

    tables.py             the experiments: Table 1 (backbones), Table 2 (augmentation), leakage, generalization,
                          inputs
    runner.py             corpus, cached features and cross-validated rows the tables share
    cv.py                 fold caches (keyed on data, code and settings), per-fold scores, summaries
    generalize.py         what holds up on unheard artists, each idea a row on the same folds
    inputs.py             other inputs (PCEN, derivatives, harmonic/percussive) and poolings, by probe
    backbones.py          other frozen ImageNet backbones; scratch.py MobileNetV2 from random weights;
    finetune.py           partial fine-tuning; feature_sets.py pooled features of every block, SpecAugment
    report.py             reports/README.md from the experiments' summaries and a bundle;
    report_figures.py     its figures; report_generalize.py its "what generalizes" and inputs sections;
    report_networks.py    the bundle's networks beside Table 1, and which MusiCNN output to embed

Results are cached in ``.cache/experiments`` per configuration and per fold (keyed on the data, the settings and
the code that made them), so an interrupted run resumes and a re-run only reads. Start at ``tables.py``.
"""
