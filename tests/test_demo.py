import numpy as np
from PIL import Image

from reid.cli import main
from reid.data.datasets.synthetic import SyntheticVIReID
from reid.demo import luminance_descriptor, run_demo


def test_descriptor_is_colour_blind_and_unit_length() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (32, 16, 3), dtype=np.uint8)
    grey = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))
    a, b = luminance_descriptor(Image.fromarray(rgb)), luminance_descriptor(Image.fromarray(grey))
    assert np.isclose(np.linalg.norm(a), 1.0)
    assert float(a @ b) > 0.99


def test_demo_runs_every_sysu_option_and_finds_the_modality_gap() -> None:
    data = SyntheticVIReID(seed=2, num_train_ids=2, num_test_ids=12)
    rows = run_demo(data, num_trials=2)
    assert len(rows) == 7
    chance = 100 / 12
    cross = [r for r in rows if r.setting.startswith("IR->VIS")]
    assert all(r.num_trials == 2 for r in cross)
    assert all(r.metrics["rank1"] > chance for r in cross)
    assert rows[-1].metrics["rank1"] > max(r.metrics["rank1"] for r in cross)


def test_cli_demo_prints_the_table(capsys) -> None:
    assert main(["demo", "--trials", "1", "--modality-gap", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "IR->VIS indoor-search multi-shot, official gallery" in out
    assert "chance: rank-1" in out


def test_cli_reports_bad_input_without_a_traceback(capsys) -> None:
    assert main(["demo", "--modality-gap", "1.5"]) == 2
    assert "modality_gap" in capsys.readouterr().err
