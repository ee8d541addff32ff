"""CLI commands that need no Whisper: train-classifier (and using what it trained), models."""

import json

import pytest

import cli
from tests.test_classify_linear import _SYNTHETIC, _write_jsonl


@pytest.mark.parametrize("text,expected", [("我们小区的路灯坏了没人修", "城乡建设")])
def test_cli_train_classifier_then_use_it(tmp_path, capsys, text, expected):
    pytest.importorskip("sklearn")
    data = _write_jsonl(tmp_path / "tickets.jsonl", [{"text": t, "category": c} for c, ts in _SYNTHETIC.items() for t in ts])
    assert cli.main(["train-classifier", str(data), "--out", str(tmp_path / "clf"), "--name", "centre", "--all-rows"]) == 0
    out = capsys.readouterr().out
    model = tmp_path / "clf" / "centre.npz"
    assert model.is_file() and str(model) in out
    config = tmp_path / "hotline.json"
    config.write_text(json.dumps({"ticket": {"stage_config": {"category.linear.v1": {"model": str(model), "fallback": False}}}}))
    assert cli.main(["--config", str(config), "ticket", "--text", text, "--json"]) == 0
    ticket = json.loads(capsys.readouterr().out)
    assert ticket["category"]["value"] == expected
    assert {c["value"] for c in ticket["category"]["candidates"]} <= set(_SYNTHETIC)


@pytest.mark.parametrize("content,fragment", [('{"text": "路灯坏了"}\n', "line 1"), ("not json\n", "line 1")])
def test_cli_train_classifier_bad_data_names_file_and_line(tmp_path, capsys, content, fragment):
    pytest.importorskip("sklearn")
    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    assert cli.main(["train-classifier", str(data), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl" in err and fragment in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("name", ["base", "qwen2.5-coder"])
def test_cli_models_lists_known_models(capsys, name):
    assert cli.main(["models"]) == 0
    assert name in capsys.readouterr().out


def test_cli_models_fetch_assembles_a_known_llm(tmp_path, capsys, monkeypatch):
    from models import llm

    seen = []
    monkeypatch.setattr(llm, "assemble", lambda spec, root=None: seen.append((spec.name, root)) or tmp_path)
    assert cli.main(["models", "--fetch", llm.DEFAULT_LLM, "--model-dir", str(tmp_path / "cache")]) == 0
    assert seen == [(llm.DEFAULT_LLM, tmp_path / "cache")]
    assert capsys.readouterr().out.strip().endswith("model.gguf")


@pytest.mark.parametrize("data", [{"asr": {"beam": 3}}])
def test_cli_bad_config_file_names_key_and_file(tmp_path, capsys, data):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(data))
    assert cli.main(["--config", str(config), "ticket", "--text", "路灯坏了"]) == 2
    err = capsys.readouterr().err
    assert "asr.beam" in err and "bad.json" in err
