import pytest
import torch

from actionpose.train.checkpoint import (
    load_checkpoint, optimizer_from_tensors, optimizer_to_tensors, read_meta, save_checkpoint,
)


def test_round_trip_with_metadata(tmp_path):
    t = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2)}
    save_checkpoint(tmp_path, t, {"step": 7, "note": "x"})
    got, meta = load_checkpoint(tmp_path)
    assert meta["step"] == 7
    assert torch.equal(got["a"], t["a"])
    assert (tmp_path / "checkpoint.json").exists()
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_truncated_checkpoint_is_one_line_error(tmp_path):
    save_checkpoint(tmp_path, {"a": torch.zeros(1000)}, {"step": 1})
    p = tmp_path / "checkpoint.safetensors"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match="checkpoint.safetensors: truncated or corrupt"):
        load_checkpoint(tmp_path)


def test_foreign_file_is_refused(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        read_meta(tmp_path / "checkpoint.safetensors")


def test_optimizer_state_round_trip():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(4, 3)).sum().backward()
        opt.step()
    tensors, scalars = optimizer_to_tensors(opt)
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(m.state_dict())
    opt2 = torch.optim.AdamW(m2.parameters(), lr=0.1)
    optimizer_from_tensors(opt2, tensors, scalars)
    x = torch.randn(4, 3)
    for mm, oo in ((m, opt), (m2, opt2)):
        oo.zero_grad()
        mm(x).sum().backward()
        oo.step()
    assert torch.equal(m.weight, m2.weight)
