import subprocess
import sys

import trimesh

from ginr_core.cli import main


def test_info_on_builtin_domain(capsys):
    assert main(["info", "--domain", "torus"]) == 0
    out = capsys.readouterr().out
    assert "vertices    4,608" in out and "components  1" in out


def test_bad_file_exits_2_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.stl"
    bad.write_bytes(b"\x00garbage" * 20)
    proc = subprocess.run(
        [sys.executable, "-m", "ginr_core.cli", "info", "--mesh", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: bad.stl contains no mesh")
    assert "Traceback" not in proc.stderr


def test_info_reports_cleaning(tmp_path, capsys):
    path = tmp_path / "sphere.stl"
    path.write_bytes(trimesh.creation.icosphere(subdivisions=1).export(file_type="stl"))
    assert main(["info", "--mesh", str(path)]) == 0
    captured = capsys.readouterr()
    assert "vertices    42" in captured.out
    assert "Merged 198 duplicate vertices" in captured.err


def test_embed_and_signal_commands_write_their_files(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "emb.npz"
    assert main(["embed", "--domain", "torus", "--k", "20", "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["features"].shape == (4608, 20) and z["eigenvalues"].shape == (20,)
        assert abs(z["eigenvalues"][0]) < 1e-10
    sig = tmp_path / "s.npy"
    assert main(["signal", "--domain", "torus", "--signal", "gray-scott", "--gs-steps", "500", "--out", str(sig)]) == 0
    assert np.load(sig).shape == (4608,)
    assert main(["signal", "--domain", "torus", "--signal", "nothing"]) == 2
    assert "Unknown signal 'nothing'" in capsys.readouterr().err


def test_train_predict_export_and_runs_end_to_end(tmp_path, capsys):
    import numpy as np

    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "30", "--budget", "3"]) == 0
    out = capsys.readouterr().out
    run_id = out.split()[1].rstrip(":")
    assert "run " in out and ": done" in out
    r2 = float(out.split("R2 ")[1].split()[0])
    assert r2 > 0.99
    assert main(["runs"]) == 0 and run_id in capsys.readouterr().out
    assert main(["runs", run_id]) == 0 and '"status": "done"' in capsys.readouterr().out
    pred = tmp_path / "p.npy"
    assert main(["predict", run_id, "--out", str(pred)]) == 0
    from ginr_core.runs.registry import Registry

    np.testing.assert_allclose(np.load(pred), Registry().load_predictions(run_id), rtol=1e-5, atol=1e-6)
    for fmt in ["ply", "npz", "checkpoint", "html"]:
        target = tmp_path / f"out.{fmt}"
        assert main(["export", run_id, "--format", fmt, "--out", str(target)]) == 0
        assert target.stat().st_size > 1000
    styled = tmp_path / "styled.html"
    assert main(["export", run_id, "--format", "html", "--out", str(styled), "--colour-map", "magma",
                 "--colour-range=-1,2", "--up", "x", "--draw-as", "points"]) == 0
    page = styled.read_text()
    assert '"type":"scatter3d"' in page and '"cmin":-1.0' in page and "manual range" in page
    assert main(["export", run_id, "--format", "html", "--colour-range", "2,1"]) == 2  # min < max, said in one line
    capsys.readouterr()
    assert main(["predict", run_id, "--domain", "torus", "--out", str(pred)]) == 2
    assert "GINR" in capsys.readouterr().err
    assert main(["runs", "no-such-run"]) == 2


def test_xyz_runs_transfer_to_another_mesh(tmp_path, capsys):
    import numpy as np

    assert main(["train", "--domain", "icosphere", "--signal", "height", "--input", "xyz", "--budget", "2"]) == 0
    run_id = capsys.readouterr().out.split()[1].rstrip(":")
    pred = tmp_path / "p.npy"
    assert main(["predict", run_id, "--domain", "bumpy_sphere", "--out", str(pred)]) == 0
    assert np.load(pred).shape == (2562,)


def test_superres_command_scores_fine_only_nodes(tmp_path, capsys):
    import numpy as np

    out = tmp_path / "fine.npy"
    code = main(["superres", "--domain", "bumpy_sphere", "--signal", "sines", "--k", "16", "--budget", "6",
                 "--strategy", "joint", "--out", str(out)])
    assert code == 0
    assert np.load(out).shape == (10242,)  # bumpy sphere level 4 subdivided once
    out_text = capsys.readouterr().out
    scores = dict(line.split() for line in out_text.split("fine-only nodes:")[1].strip().splitlines())
    assert set(scores) == {"joint", "harmonic", "biharmonic", "rbf"}  # the strategy beside classical interpolation
    assert float(scores["joint"]) > 0.9
    assert main(["superres", "--domain", "torus", "--signal", "sines", "--strategy", "sh", "--budget", "1"]) == 2


def test_compare_command(capsys):
    assert main(["compare", "--domain", "icosphere", "--signal", "sines", "--k", "16", "--budget", "2",
                 "--models", "inr_sine,ginr_sine", "--holdout", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "R2 on held-out nodes" in out and "inr_sine" in out and "ginr_sine" in out and "ginr_relu" not in out
    assert main(["compare", "--models", "nope", "--budget", "1"]) == 2


def test_timeseries_command_scores_held_out_frames_and_animates(tmp_path, capsys):
    import numpy as np

    out, video = tmp_path / "series.npz", tmp_path / "series.gif"
    assert main(["timeseries", "--domain", "icosphere", "--gs-steps", "200", "--save-every", "10", "--k", "16",
                 "--budget", "3", "--out", str(out), "--animation", str(video), "--fps", "5"]) == 0
    printed = capsys.readouterr().out
    assert "R2 on the held-out frames" in printed and video.stat().st_size > 1000
    with np.load(out) as z:
        assert z["prediction"].shape == z["truth"].shape == (20, 2562)
        assert z["trained"].tolist()[:3] == [True, False, True]


def test_timeseries_rejects_a_bad_selection(capsys):
    assert main(["timeseries", "--netcdf", "x.nc", "--select", "month"]) == 2
    assert "DIM=INDEX" in capsys.readouterr().err


def test_timeseries_from_signal_files(tmp_path, capsys):
    import numpy as np

    from ginr_core.geometry.domains import make_domain

    x = make_domain("torus").vertices[:, 0]
    paths = []
    for t in range(5):
        paths.append(str(tmp_path / f"t{t}.npy"))
        np.save(paths[-1], np.sin(2 * x + 0.2 * t))
    out = tmp_path / "series.npz"
    assert main(["timeseries", "--domain", "torus", "--signals", *paths, "--times", "0,1,2,3,4", "--k", "16",
                 "--budget", "2", "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["times"].tolist() == [0, 1, 2, 3, 4] and z["prediction"].shape == (5, x.size)
    assert "R2 on the held-out frames" in capsys.readouterr().out
    assert main(["timeseries", "--domain", "torus", "--signals", *paths, "--times", "0,1,x"]) == 2
    assert "--times: give numbers separated by commas" in capsys.readouterr().err


def test_the_html_export_maps_the_chosen_error(tmp_path, capsys):
    import numpy as np

    from ginr_core.runs.actions import result_panels
    from ginr_core.runs.registry import Registry

    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "9", "--steps", "20"]) == 0
    run_id = capsys.readouterr().out.split()[1].rstrip(":")
    _, panels = result_panels(Registry(), run_id, "absolute")
    np.testing.assert_allclose(panels["absolute error"], np.abs(panels["prediction"] - panels["ground truth"]))
    for kind, other in (("absolute", "squared"), ("squared", "absolute")):
        out = tmp_path / f"{kind}.html"
        assert main(["export", run_id, "--format", "html", "--error", kind, "--out", str(out)]) == 0
        page = out.read_text()
        assert f"{kind} error" in page and f"{other} error" not in page


def test_both_limits_apply_and_the_record_tells_the_steps_taken_and_the_training_time(capsys):
    """`--budget 2 --steps 3` stops at 3 steps and says so (it was recorded "done after 0 steps": the curve kept only
    multiples of its logging interval); the time printed first is the training's, the rest said apart."""
    from ginr_core.runs.registry import Registry

    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "9", "--budget", "2", "--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "done after 3 steps" in out and "s of training (" in out
    (run,) = Registry().list_runs()
    assert Registry().load_history(run.id)[-1]["step"] == 3


def test_a_run_is_named_by_a_unique_start_of_its_id_or_of_its_time(capsys):
    from ginr_core.runs.registry import Registry

    registry = Registry()
    ids = [registry.create_run(_spec()) for _ in range(2)]
    assert registry.resolve(ids[0][:-3]) == ids[0]  # git-style: a start of the id
    assert registry.resolve(ids[1].split("-")[2][:6]) == ids[1]  # or of its hash
    capsys.readouterr()
    assert main(["runs", ids[0].split("-")[2][:6]]) == 0 and ids[0] in capsys.readouterr().out
    date = ids[0].split("-")[0]
    assert main(["runs", date]) == 2  # both runs start so
    err = capsys.readouterr().err
    assert "names 2 runs" in err and ids[0] in err and ids[1] in err
    assert main(["runs", "nothing-like-it"]) == 2 and "No run with id 'nothing-like-it'" in capsys.readouterr().err


def _spec():
    from ginr_core.geometry.features import FeatureSpec
    from ginr_core.learning.model_config import ModelConfig
    from ginr_core.learning.training import TrainConfig
    from ginr_core.runs.spec import RunSpec, Source

    return RunSpec("fit", Source("builtin", "icosphere"), Source("analytic", "sines"), FeatureSpec("combinatorial", 9),
                   ModelConfig(), TrainConfig(), {})


def test_a_gray_scott_signal_is_recorded_as_the_data_page_records_it(capsys):
    """The run spec of a CLI run names the texture's recipe (steps, Du, Dv, F, k, seed), as the Data page does."""
    from dataclasses import replace

    from ginr_core.learning.recipes import PAPER_GRAY_SCOTT
    from ginr_core.runs.registry import Registry
    from ginr_core.runs.signal_sources import gray_scott_source

    assert main(["train", "--domain", "icosphere", "--signal", "gray-scott", "--gs-steps", "50", "--k", "9", "--steps", "2"]) == 0
    (run,) = Registry().list_runs()
    assert run.spec.signal == gray_scott_source(replace(PAPER_GRAY_SCOTT, steps=50))
    assert run.spec.signal.params == {**PAPER_GRAY_SCOTT.as_dict(), "steps": 50}


def test_defaults_come_from_the_requests_and_recipes():
    """An option's default is the request's or the recipe's, not a second copy of it; `collection build` names
    the Gray-Scott kill rates --kill-rates (every other --k is an embedding size)."""
    from ginr_core.cli import build_parser
    from ginr_core.learning.recipes import GRAY_SCOTT_FAMILY, SUPERRES_K, SWEEP_GRID, comma_list
    from ginr_core.tasks.interpolation import InterpolationSettings
    from ginr_core.tasks.superres import SuperResolutionRequest

    parse = build_parser().parse_args
    assert parse(["superres"]).k == SUPERRES_K == SuperResolutionRequest.__dataclass_fields__["k"].default
    assert parse(["interpolate"]).k == InterpolationSettings().k
    sweep = parse(["sweep"])
    assert comma_list(sweep.k, int) == SWEEP_GRID["k"] and comma_list(sweep.first_omega0) == SWEEP_GRID["first_omega_0"]
    build = parse(["collection", "build", "--kill-rates", "0.061,0.062"])
    assert comma_list(build.kill_rates) == (0.061, 0.062) and comma_list(build.feed_rates) == GRAY_SCOTT_FAMILY.F


def test_a_recipe_is_one_option_away_and_flags_change_it(capsys):
    from dataclasses import replace

    from ginr_core.learning.recipes import PAPER_FIT, PREVIOUS_FIT
    from ginr_core.runs.registry import Registry

    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "9", "--steps", "3", "--recipe", "previous"]) == 0
    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "9", "--steps", "3", "--recipe", "paper",
                 "--hidden", "16", "--batch-size", "0"]) == 0
    capsys.readouterr()
    specs = [run.spec for run in Registry().list_runs()]  # told apart by recipe: both may start in the same second
    (paper,) = [spec for spec in specs if spec.train.optimizer == "adamw"]
    (previous,) = [spec for spec in specs if spec.train.optimizer == "adam"]
    assert previous.train.batch_size is None and previous.train.solve_readout is False
    assert replace(previous.model, encoder=PREVIOUS_FIT.model.encoder) == PREVIOUS_FIT.model  # k comes from --k
    assert paper.model.mlp.n_layers == PAPER_FIT.model.mlp.n_layers and paper.model.mlp.hidden == 16
    assert paper.train.optimizer == "adamw" and paper.train.batch_size is None
