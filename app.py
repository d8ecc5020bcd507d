"""GINR Studio entry point: `streamlit run app.py`.

A first view over the geometry engine until the dashboard pages land: pick a built-in domain and see it
in 3D with a smooth signal on it.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ginr_core.domains import BUILTIN_DOMAINS, make_domain

st.set_page_config(page_title="GINR Studio", layout="wide")
st.title("GINR Studio")
st.write(
    "Generalised implicit neural representations (Grattarola & Vandergheynst, NeurIPS 2022) learn a signal "
    "on a mesh or a sphere from a spectral embedding of its nodes. The training dashboard is being built; "
    "the geometry engine is ready to explore."
)

name = st.selectbox("Built-in domain", list(BUILTIN_DOMAINS), format_func=lambda n: f"{n}: {BUILTIN_DOMAINS[n].description}")


@st.cache_data
def domain_arrays(name: str):
    mesh = make_domain(name)
    return mesh.vertices.astype(np.float32), mesh.faces, len(mesh.edges())


vertices, faces, n_edges = domain_arrays(name)
st.caption(f"{len(vertices):,} vertices, {len(faces):,} faces, {n_edges:,} edges")
x, y, z = vertices.T
signal = np.sin(3 * x) * np.cos(3 * y) + z
fig = go.Figure(
    go.Mesh3d(x=x, y=y, z=z, i=faces[:, 0], j=faces[:, 1], k=faces[:, 2], intensity=signal, colorscale="Viridis")
)
fig.update_layout(height=600, margin=dict(l=0, r=0, t=0, b=0), scene_aspectmode="data")
st.plotly_chart(fig, use_container_width=True)
