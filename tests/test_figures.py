"""``python -m ssd_edu figures`` writes every figure, deterministically, and figures/ holds them."""
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
from ssd_edu.__main__ import main  # noqa: E402
from ssd_edu.figures import FIGURES, generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow          # every figure, the timed ones included
def test_cli_writes_every_figure(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(FIGURES)
    for name in written:
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and 5_000 < len(data) < 400_000, (name, len(data))
    out = capsys.readouterr().out
    assert all(name in out for name in FIGURES)


def test_committed_figures_match_the_registry():
    committed = sorted(p.name for p in (ROOT / "figures").glob("*.png"))
    assert committed == sorted(FIGURES)


def test_figures_without_timings_are_reproducible(tmp_path):
    for name in ("scalar_ssd.png", "chunked_blocks.png"):
        first = generate(tmp_path / "a", only=[name])[0].read_bytes()
        second = generate(tmp_path / "b", only=[name])[0].read_bytes()
        assert first == second, name


def test_unknown_figure_is_refused(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--only", "nope.png"]) == 2
    assert "unknown figure" in capsys.readouterr().err
    assert main(["figures", "--list"]) == 0
    assert "cost.png" in capsys.readouterr().out
