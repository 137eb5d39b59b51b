"""The GTZAN genre map's pipeline: audio files → one bundle on disk, and new songs placed on its maps.

``python -m pipeline build | info | place | experiment | report`` (``cli.py``). Where things are::

    pipeline/                 audio files → bundle, and placing new songs (python -m pipeline …)
      cli.py                  build | info | place | experiment | report; defaults come from the config dataclasses
      info.py                 what a bundle says about itself: info's summary, the README's tables (--markdown)
      build.py                the build's stages, top to bottom: BuildConfig → one bundle
      dataset.py              <genre>/<file> folders → decoded corpus (discover, decode, metadata; bad files skipped)
      audio.py                any file → 22 050 Hz mono float32 (soundfile + soxr; bounded reads, one-line errors)
      spectrogram.py          log-mel images (librosa's numbers in numpy, one STFT per song), windows, augmentation
      splits.py               track/artist splits (repeated recordings together) and the leakage audit
      networks/               the map networks: one module each (front end, build features, served graph, texts)
        __init__.py           the registry: network and layer names, embedding keys (deep, <network>.deep)
        contract.py           what every network module provides (Windows, BuildNetwork) and a served graph
        image_network.py      the shared half of the networks that read log-mel images (ImageNet CNNs)
        <name>.py             one network each; <name>_net.py / <name>_input.py its torch modules / numpy front end
        weights.py            the shipped pretrained weights (sha256-checked) and what --weights means
      head.py                 the new genre head every network gets (deep, shallow, logits)
      feature_cache.py        backbone features cached on disk (.cache/), so an interrupted run resumes
      onnx_features.py        a frozen network exported once and run in onnxruntime: the build's features, fast
      train.py                the head: early stopping on validation tracks, refit, class weights, metrics
      evaluate.py             repeated grouped cross-validation of the head and a logistic probe
      candidates.py           the genre predictor's candidates (heads, probes, neighbours, both networks) on the same
                              folds, out-of-fold by construction; the best (within noise, the simplest) is kept
      predictor.py            the stored genre predictor applied in numpy (place's genres; no scikit-learn, no torch)
      embed.py                per-window and per-track vectors at every tap
      maps.py                 MapConfig, openTSNE maps (MapProjector: fitted only), cosine genre matrices, quality
                              numbers (new points go on maps through project.py only)
      export.py               each network → its ONNX graph, checked against torch on the build's own inputs
      onnx_link.py            a graph's weights stored once: initializers that point into model.safetensors
      bundle/                 the versioned, atomic, pickle-free bundle on disk (format 3): format.py (layout,
                              hashes), reading.py (load_bundle), writing.py (atomic), lazy.py (memory-mapped arrays)
      previews.py             short Ogg previews stored in the bundle, so every dot can be heard
      place.py                Placer: a new song → genre, embeddings, map positions, neighbours, trajectory (no torch)
      serve.py                the network in onnxruntime
      project.py              new points on a saved t-SNE map (openTSNE's transform in numpy; old points never move);
                              unit_rows, the one row normaliser
      paths.py                where shipped files are: DEFAULT_BUNDLE (assets/gtzan), assets/weights
      palette.py              the genre colours every chart uses (explorer and report)
      runtime.py              torch threads for a block; package versions recorded with results
      errors.py               one-line error messages
      experiments/            the paper's experiments and report (python -m pipeline experiment | report);
                              its own docstring maps its files

Read ``build.py`` top to bottom, opening each stage's module as it is called; ``place.py`` is how a new song
is placed (the explorer calls it too). Import rules (``tests/project/test_import_rules.py``): nothing here
imports ``explorer`` or ``streamlit``; the core never imports ``experiments`` (the CLI does, inside its
``experiment`` and ``report`` commands); what ``place`` and ``info`` load imports no torch at module level;
no module imports another's ``_private`` names.
"""
