"""The README's configuration reference is the settings model's, field for field."""

from pathlib import Path

from comicocr import config_reference
from comicocr.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_matches_the_settings_model() -> None:
    text = README.read_text()
    block = text.split(config_reference.BEGIN, 1)[1].split(config_reference.END, 1)[0].strip()
    assert block == config_reference.table(), "run: .venv/bin/python -m comicocr.config_reference README.md"


def test_every_setting_is_described_and_listed() -> None:
    table = config_reference.table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"`COMICOCR_{name.upper()}`" in table
