"""vizcore: the computations behind the CNN visualizer, in plain numpy/torch (no Streamlit)."""
