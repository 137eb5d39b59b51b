"""Pure figure and frame builders: plain data in, plotly figures and pandas frames out; no Streamlit."""
