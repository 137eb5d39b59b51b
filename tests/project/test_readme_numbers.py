"""The README's numbers are the shipped bundle's own (``python -m pipeline info --markdown``), never typed."""
import re

from pipeline.bundle import load_bundle
from pipeline.info import markdown_numbers
from tests.conftest import REPO

START, END = "<!-- numbers: python -m pipeline info --markdown -->", "<!-- /numbers -->"


def test_readme_numbers_are_the_shipped_bundles():
    readme = (REPO / "README.md").read_text()
    block = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    assert block, f"README.md has no block between {START!r} and {END!r}"
    want = "\n".join(markdown_numbers(load_bundle(REPO / "assets" / "gtzan").meta))
    assert block.group(1).strip() == want.strip(), "regenerate it: python -m pipeline info --markdown"
