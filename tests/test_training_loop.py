"""training_loop: what a checkpoint holds is detached CPU tensors in the state's own structure, whatever the trainer."""
from __future__ import annotations

import torch

from contraclip_core.training_loop import save_checkpoint_file, to_cpu


def test_a_checkpoint_holds_detached_tensors_in_the_states_own_structure(tmp_path):
    w = torch.nn.Parameter(torch.ones(3))
    state = {"model": {"w": w}, "optimizer": {"state": {0: {"exp_avg": w * 2}}, "param_groups": [{"lr": 0.1}]},
             "pair": (w, 4), "losses": [1.0, 0.5]}
    moved = to_cpu(state)
    assert isinstance(moved["pair"], tuple) and moved["pair"][1] == 4 and moved["losses"] == [1.0, 0.5]
    assert not moved["model"]["w"].requires_grad and not moved["optimizer"]["state"][0]["exp_avg"].requires_grad
    assert moved["optimizer"]["param_groups"] == [{"lr": 0.1}]
    save_checkpoint_file(state, tmp_path / "ckpt.pt")
    back = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], torch.full((3,), 2.0))
    assert not back["model"]["w"].requires_grad and back["model"]["w"].device.type == "cpu"
