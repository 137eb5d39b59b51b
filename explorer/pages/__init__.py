"""One file per page, run by st.navigation (app.py) as a script; each defines one function, ``page``."""
