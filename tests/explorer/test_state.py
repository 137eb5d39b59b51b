"""Which bundles the explorer offers: the collections found in assets/."""
from __future__ import annotations

import json
import shutil

from explorer import state
from explorer.state import DEFAULT_BUNDLE


def test_bundles_found_in_assets(tmp_path):
    for name in ("zeta", "alpha"):
        (tmp_path / name).mkdir()
        shutil.copy(DEFAULT_BUNDLE / "bundle.json", tmp_path / name / "bundle.json")
    (tmp_path / "not_a_bundle").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bundle.json").write_text("{")
    found = state.find_bundles(tmp_path)
    assert [p.name for p in found] == ["alpha", "broken", "zeta"]
    assert state.find_bundles(tmp_path / "nowhere") == []
    choices = state.bundle_choices(tmp_path / "zeta", tmp_path)
    assert [p.name for p in choices] == ["zeta", "alpha", "broken"]  # the startup bundle first, once
    assert state.describe_bundle(tmp_path / "alpha") == "alpha — gtzan, 253 clips"
    assert "cannot be opened" in state.describe_bundle(tmp_path / "broken")
    meta = json.loads((DEFAULT_BUNDLE / "bundle.json").read_text())
    assert state.describe_bundle(DEFAULT_BUNDLE).endswith(f"{meta['dataset']['n_tracks']} clips")
