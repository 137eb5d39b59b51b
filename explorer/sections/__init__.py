"""Streamlit parts the pages share: the view controls, the detail panel, "sounds like", downloads."""
