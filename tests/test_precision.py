import math

import pytest

import tenku.precision as precision
from tenku.precision import bf16_speedup, use_bf16


def test_speedup_is_measured():
    speedup = bf16_speedup()
    assert math.isfinite(speedup) and speedup > 0


def test_bf16_is_refused_where_emulated_and_kept_where_native(monkeypatch, capsys):
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 0.02)
    assert use_bf16(True, "train dit") is False
    assert "train dit: this CPU has no native bf16 matmul (bf16 measured 50x slower than fp32)" in capsys.readouterr().err
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 2.4)
    assert use_bf16(True, "train dit") is True
    assert capsys.readouterr().err == ""


def test_fp32_asked_for_is_fp32_without_a_probe(monkeypatch):
    def probe():
        raise AssertionError("probed")

    monkeypatch.setattr(precision, "bf16_speedup", probe)
    assert use_bf16(False, "train vae") is False


@pytest.mark.parametrize("speedup", [0.49, 0.5])
def test_threshold(monkeypatch, speedup):
    monkeypatch.setattr(precision, "bf16_speedup", lambda: speedup)
    assert use_bf16(True, "x") is (speedup >= precision.SLOWER_THAN_FP32)
