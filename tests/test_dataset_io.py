import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.io.reference_dataset import (
    read_reference_dataset,
    write_reference_dataset,
)


@pytest.fixture()
def domain():
    mesh = icosphere(1)
    rng = np.random.default_rng(0)
    fourier = rng.standard_normal((mesh.n_vertices, 5))
    targets = [rng.standard_normal((mesh.n_vertices, 1)) for _ in range(12)]
    return mesh, fourier, targets


def test_round_trip_per_file_layout(tmp_path, domain):
    mesh, fourier, targets = domain
    paths = write_reference_dataset(tmp_path / "d", mesh.vertices, fourier, targets[:1], faces=mesh.faces)
    assert [p.name for p in paths] == ["data.npz"]
    with np.load(paths[0], allow_pickle=False) as npz:  # exactly the reference's keys
        assert set(npz.files) == {"points", "fourier", "target", "faces"}
    ds = read_reference_dataset(tmp_path / "d")
    assert len(ds) == 1 and not ds.shared and ds.times is None
    s = ds.samples[0]
    np.testing.assert_array_equal(s.points, mesh.vertices)
    np.testing.assert_array_equal(s.fourier, fourier)
    np.testing.assert_array_equal(s.target, targets[0])
    np.testing.assert_array_equal(s.faces, mesh.faces)
    assert s.time is None and s.n_nodes == mesh.n_vertices


def test_round_trip_shared_layout_with_times(tmp_path, domain):
    mesh, fourier, targets = domain
    times = np.arange(12) / 12
    write_reference_dataset(tmp_path / "d", mesh.vertices, fourier, targets, times=times, shared=True)
    assert (tmp_path / "d" / "fourier.npy").is_file() and (tmp_path / "d" / "points.npy").is_file()
    with np.load(tmp_path / "d" / "npz_files" / "data_00003.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"target", "time"} and npz["time"].shape == ()
    ds = read_reference_dataset(tmp_path / "d")
    assert ds.shared and len(ds) == 12
    np.testing.assert_allclose(ds.times, times)
    for sample, target in zip(ds.samples, targets):
        np.testing.assert_array_equal(sample.target, target)
        np.testing.assert_array_equal(sample.fourier, fourier)
        np.testing.assert_array_equal(sample.points, mesh.vertices)


def test_reads_the_reference_time_series_in_numeric_order(tmp_path, domain):
    """As data_generation/bunny_time.py writes it: bunny_time_{t}.npz with time=t/n_iter, target (n, 1)."""
    mesh, fourier, targets = domain
    folder = tmp_path / "bunny_time"
    (folder / "npz_files").mkdir(parents=True)
    steps = [0, 10, 20, 100, 110]
    for t, target in zip(steps, targets):
        np.savez(folder / "npz_files" / f"bunny_time_{t}.npz", time=t / 3000, target=target)
    np.save(folder / "fourier.npy", fourier)
    np.save(folder / "points.npy", mesh.vertices)
    ds = read_reference_dataset(folder)
    assert [s.name for s in ds.samples] == [f"bunny_time_{t}.npz" for t in steps]
    np.testing.assert_allclose(ds.times, np.array(steps) / 3000)
    np.testing.assert_array_equal(ds.samples[3].target, targets[3])


def test_one_dimensional_targets_are_stored_as_columns(tmp_path, domain):
    mesh, fourier, targets = domain
    write_reference_dataset(tmp_path / "d", mesh.vertices, fourier, [targets[0][:, 0]])
    assert read_reference_dataset(tmp_path / "d").samples[0].target.shape == (mesh.n_vertices, 1)


def test_writer_refuses_bad_shapes(tmp_path, domain):
    mesh, fourier, targets = domain
    n = mesh.n_vertices
    folder = tmp_path / "d"
    cases = [
        (dict(points=mesh.vertices[:, :2]), "points must have shape"),
        (dict(fourier=fourier[:-1]), "Fourier features have"),
        (dict(fourier=fourier[:, 0]), r"\(n, k\)"),
        (dict(targets=[np.ones((n - 1, 1))]), "Fourier features have"),
        (dict(targets=[np.full((n, 1), np.nan)]), "NaN"),
        (dict(targets=[]), "no targets"),
        (dict(times=[0.0, 1.0]), "one time per target"),
        (dict(faces=mesh.faces + n), "do not exist"),
        (dict(faces=mesh.faces.astype(float)), "integer"),
        (dict(names=["../escape"]), "File names"),
    ]
    for changes, message in cases:
        args = dict(points=mesh.vertices, fourier=fourier, targets=targets[:1]) | changes
        with pytest.raises(GinrError, match=message):
            write_reference_dataset(folder, **args)
    assert not list(folder.glob("npz_files/*.npz"))

    write_reference_dataset(folder, mesh.vertices, fourier, targets[:2])
    with pytest.raises(GinrError, match="already holds 2"):
        write_reference_dataset(folder, mesh.vertices, fourier, targets[:1])
    write_reference_dataset(folder, mesh.vertices, fourier, targets[:1], overwrite=True)
    assert len(read_reference_dataset(folder)) == 1


def test_reader_refuses_broken_folders(tmp_path, domain):
    mesh, fourier, targets = domain
    with pytest.raises(GinrError, match="no 'npz_files' folder"):
        read_reference_dataset(tmp_path)
    npz_dir = tmp_path / "npz_files"
    npz_dir.mkdir()
    with pytest.raises(GinrError, match="no .npz files"):
        read_reference_dataset(tmp_path)

    np.savez(npz_dir / "a.npz", target=targets[0])
    with pytest.raises(GinrError, match="no 'fourier' array"):
        read_reference_dataset(tmp_path)
    np.save(tmp_path / "fourier.npy", fourier[:-2])
    with pytest.raises(GinrError, match="a.npz: the Fourier features have"):
        read_reference_dataset(tmp_path)
    np.save(tmp_path / "fourier.npy", fourier)
    assert read_reference_dataset(tmp_path).shared

    np.savez(npz_dir / "b.npz", fourier=fourier)
    with pytest.raises(GinrError, match="b.npz has no 'target'"):
        read_reference_dataset(tmp_path)
    (npz_dir / "b.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(GinrError, match="b.npz is not a valid .npz"):
        read_reference_dataset(tmp_path)
    np.savez(npz_dir / "b.npz", target=np.array([{"evil": 1}] * mesh.n_vertices, dtype=object))
    with pytest.raises(GinrError, match="pickled"):
        read_reference_dataset(tmp_path)
    np.savez(npz_dir / "b.npz", target=targets[1], time=np.array([0.1, 0.2]))
    with pytest.raises(GinrError, match="one finite number"):
        read_reference_dataset(tmp_path)
    (npz_dir / "b.npz").unlink()
    (tmp_path / "fourier.npy").write_bytes(b"garbage")
    with pytest.raises(GinrError, match="fourier.npy is not a .npy file"):
        read_reference_dataset(tmp_path)
