"""docs/settings.md is the generated reference of the settings, and every setting has its line of help."""

from pathlib import Path

from fieldmap.settings import Settings
from fieldmap.settings_doc import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_has_one_line_of_help():
    missing = [
        name for name, field in Settings.model_fields.items() if not field.description or "\n" in field.description
    ]
    assert not missing, f"settings without one line of help: {missing}"


def test_the_reference_in_docs_is_current():
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "regenerate: python -m fieldmap.settings_doc > docs/settings.md"
    )
