import torch

from tenku.checkpoint import load_checkpoint, save_checkpoint


def test_resume_keeps_the_optimizer_implementation_and_state(tmp_path):
    model = torch.nn.Linear(4, 3)
    plain = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    plain.step()
    save_checkpoint(tmp_path / "ckpt", model.state_dict(), plain, {"step": 1})
    fused = torch.optim.AdamW(model.parameters(), lr=5.0, fused=True)
    load_checkpoint(tmp_path / "ckpt", fused)
    assert fused.param_groups[0]["fused"] is True and fused.param_groups[0]["lr"] == 1e-3
    for p in model.parameters():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(fused.state[p][name], plain.state[p][name], atol=0, rtol=0)
