"""`prepare 3dhp` given only `data_test_3dhp.npz` (the common case): the split that file holds is
loaded and the user is told the other one was not read (issue 24)."""
from __future__ import annotations

import warnings

import pytest

from actionpose.cli import main
from actionpose.data.cache import load_motions
from actionpose.data.mpi_inf_3dhp import load_3dhp

from test_3dhp import write_test_npz


def test_all_split_on_the_test_file_loads_test_and_warns(tmp_path):
    f = tmp_path / "data_test_3dhp.npz"
    write_test_npz(f)
    with pytest.warns(UserWarning, match=r"loaded split test only \(data_train_3dhp\.npz not read; fine-tuning"):
        ms = load_3dhp(f, split="all")
    assert sorted(m.name for m in ms) == ["TS1", "TS5"]
    assert {m.meta["split"] for m in ms} == {"test"}


def test_all_split_on_an_unnamed_file_is_one_line_error(tmp_path):
    write_test_npz(tmp_path / "mine.npz")
    with pytest.raises(ValueError, match=r"mine\.npz: split 'all' reads a file only under its standard name") as e:
        load_3dhp(tmp_path / "mine.npz", split="all")
    assert "\n" not in str(e.value)


def test_prepare_cli_on_the_test_file(tmp_path, capsys):
    f = tmp_path / "data_test_3dhp.npz"
    write_test_npz(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["prepare", "3dhp", "--source", str(f), "--out", str(tmp_path / "out"), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "loaded split test only" in out + err
    motions, info = load_motions(tmp_path / "out")
    assert len(motions) == 2 and any("loaded split test only" in i for i in info["issues"])
