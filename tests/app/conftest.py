import pytest

from tests.browser import serve


@pytest.fixture
def server(tmp_path):
    """A running ``streamlit run app.py`` on the shipped bundle; yields its URL and always stops it."""
    yield from serve(tmp_path)
