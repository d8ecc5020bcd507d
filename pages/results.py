"""Results: truth, prediction and error of a finished run, its metrics, and downloads."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.geometry.mesh import Mesh
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.io.export import checkpoint_zip_bytes, ply_bytes, reference_npz_bytes
from ginr_core.learning.metrics import evaluate, squared_error
from ginr_core.viz.figures import figure_html
from pages.shared.runs import registry
from pages.shared.widgets import enter_via_app, show_error, show_meshes

enter_via_app(__file__)

st.title("Results")
runs = [r for r in registry().list_runs() if r.status in ("done", "cancelled")]
if not runs:
    st.info("No finished run yet: train one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

labels = {r.id: f"{r.id} · {r.description.get('domain', '')} · {r.description.get('signal', '')} · "
                f"{r.description.get('input', '')} · R² {(r.metrics or {}).get('r2', float('nan')):.4f}" for r in runs}
default = runs[0].id if st.session_state.get("watching") not in labels else st.session_state.watching
run_id = st.selectbox("Run", list(labels), index=list(labels).index(default), format_func=labels.get)
run = registry().get(run_id)


@st.cache_data(show_spinner=False, max_entries=4)
def run_arrays(run_id: str):
    mesh, target = registry().load_domain(run_id)
    return mesh.vertices, mesh.faces, target, registry().load_predictions(run_id)


try:
    vertices, faces, truth, prediction = run_arrays(run_id)
except Exception as exc:
    show_error(exc)
    st.stop()
mesh = Mesh(vertices, faces, name=run.description.get("domain", "mesh"))
truth1 = truth if truth.ndim == 1 else truth[:, 0]
pred1 = prediction if prediction.ndim == 1 else prediction[:, 0]

# ---------------------------------------------------------------------------------------- 3D views
error_kind = st.radio("Error", ["absolute", "squared"], horizontal=True)
error = np.abs(pred1 - truth1) if error_kind == "absolute" else (pred1 - truth1) ** 2
fig = show_meshes(mesh, {"ground truth": truth1, "prediction": pred1, f"{error_kind} error": error}, key="results",
                  colorscales={f"{error_kind} error": "Hot_r"}, shared_scale=["ground truth", "prediction"])

# ------------------------------------------------------------------------------------------ metrics
left, right = st.columns([1, 1])
metrics = evaluate(truth, prediction)
left.subheader("Metrics")
names = {"mse": "MSE", "r2": "R²", "psnr": "PSNR (dB)", "max_abs_error": "max |error|",
         "r2_trimmed_90": "R² (nodes below 90th pct. error)", "r2_trimmed_95": "R² (nodes below 95th pct. error)"}
left.dataframe(pd.DataFrame([{"metric": names.get(k, k), "value": f"{v:.6g}"} for k, v in metrics.items()]),
               hide_index=True, width="stretch")
left.caption(f"Model: {run.config['model']['input_kind']} input, {run.config['model']['n_layers']} x "
             f"{run.config['model']['hidden']} {run.config['model']['activation']}; status {run.status}.")
hist = go.Figure(go.Histogram(x=squared_error(truth, prediction).ravel(), nbinsx=60))
hist.update_layout(title="Per-node squared error", yaxis_type="log", height=360, margin=dict(l=0, r=0, t=40, b=0),
                   xaxis_title="squared error", yaxis_title="nodes")
right.plotly_chart(hist, key="error-histogram")

# ---------------------------------------------------------------------------------------- downloads
st.subheader("Downloads")
c = st.columns(4)


def reference_npz() -> bytes:
    """The reference layout needs the domain's spectral embedding: read from the disk cache."""
    emb = spectral_embedding(mesh, k=int(run.description.get("k", 100)),
                             laplacian=run.description.get("laplacian", "combinatorial"))
    return reference_npz_bytes(mesh.vertices, emb.features, prediction, faces=mesh.faces)


c[0].download_button("Prediction (PLY)", lambda: ply_bytes(mesh, {"truth": truth1, "prediction": pred1, "error": error}),
                     file_name=f"{run_id}.ply", help="Mesh with truth, prediction and error as vertex properties.")
c[1].download_button("Prediction (reference npz)", reference_npz, file_name=f"{run_id}.npz",
                     help="The GINR reference layout: points, fourier, target (the prediction), faces.")
if (run.path / "model.pt").is_file():
    c[2].download_button("Checkpoint (zip)", lambda: checkpoint_zip_bytes(run.path), file_name=f"{run_id}.zip")
if fig is not None:
    c[3].download_button("Interactive figure (HTML)", lambda: figure_html(fig), file_name=f"{run_id}.html")
