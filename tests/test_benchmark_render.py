"""benchmarks/bench.py --render: RESULTS.md rewritten from a results.json, with the mel frontends' and spectral
losses' sections taken from separate runs of their scripts (--frontends / --losses) and named as such."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")


def _render(out, results=os.path.join(BENCH, "results.json"), *extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, os.path.join(BENCH, "bench.py"), "--render", results, "--out", str(out), *extra],
                   check=True, env=env, capture_output=True)
    return (out / "RESULTS.md").read_text()


def test_render_splices_the_separate_runs(tmp_path):
    fr = dict(json.load(open(os.path.join(BENCH, "frontends.json"))))
    lo = dict(json.load(open(os.path.join(BENCH, "losses.json"))))
    # distinct markers, so that the test sees these files' rows and not the ones results.json holds
    fr["device"], lo["device"] = "card F", "card L"
    fr["rows"][0]["fwd_spectro_ms"] = 12.3456
    lo["rows"][0]["fb_spectro_ms"] = 65.4321
    (tmp_path / "f.json").write_text(json.dumps(fr))
    (tmp_path / "l.json").write_text(json.dumps(lo))
    md = _render(tmp_path, os.path.join(BENCH, "results.json"), "--frontends", str(tmp_path / "f.json"), "--losses",
                 str(tmp_path / "l.json"))
    mel = md[md.index("## mel frontends"):md.index("## spectral losses")]
    loss = md[md.index("## spectral losses"):]
    assert "separate run of `benchmarks/frontends.py` (card F" in mel
    assert "| 12.346 |" in mel
    assert "separate run of `benchmarks/losses.py` (card L" in loss
    assert "| 65.432 |" in loss
    data = json.load(open(tmp_path / "results.json"))
    assert data["meta"]["frontends"][0]["fwd_spectro_ms"] == 12.3456
    assert data["meta"]["losses_run"]["device"] == "card L"
    # rendered again from the results.json it wrote: the same file
    assert _render(tmp_path / "again", str(tmp_path / "results.json")) == md


def test_render_without_separate_runs_has_no_such_note(tmp_path):
    data = json.load(open(os.path.join(BENCH, "results.json")))
    data["meta"].pop("frontends_run", None)
    data["meta"].pop("losses_run", None)
    (tmp_path / "r.json").write_text(json.dumps(data))
    md = _render(tmp_path / "out", str(tmp_path / "r.json"))
    assert "## mel frontends" in md and "separate run" not in md
