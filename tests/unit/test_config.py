from pathlib import Path

import pytest

from adjutant import config
from adjutant.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kojid.conf"
    path.write_text(text)
    return path


def test_defaults_without_adjutant_section(tmp_path: Path):
    loaded = config.load(write(tmp_path, "[adjutant]\n"))
    assert loaded == config.Config()
    assert loaded.log_dir == Path("/mnt/koji/logs")
    assert loaded.task_memory_max is None


def test_values_are_parsed(tmp_path: Path):
    loaded = config.load(write(tmp_path, """
[adjutant]
task_memory_max = 2G
task_cpus = 1.5
task_runtime_max = 2h
task_io_weight = 300
log_dir = /srv/logs
"""))
    assert loaded.task_memory_max == 2 * 1024**3
    assert loaded.task_cpus == 1.5
    assert loaded.task_runtime_max == 7200
    assert loaded.task_io_weight == 300
    assert loaded.log_dir == Path("/srv/logs")


@pytest.mark.parametrize("text,message", [
    ("[adjutant]\nbogus = 1\n", "[adjutant] unknown key 'bogus'"),
    ("[adjutant]\ntask_memory_max = lots\n",
     "[adjutant] task_memory_max = 'lots': 'lots' is not a size"),
    ("[adjutant]\ntask_io_weight = 0\n", "task_io_weight = '0': '0' is outside"),
    ("[adjutant]\nlog_dir = logs\n", "log_dir = 'logs': 'logs' is not an absolute path"),
    ("[weird]\nx = 1\n", "unknown section [weird]"),
    ("no section header\n", "not a valid INI file"),
])
def test_bad_files_give_one_line_naming_file_and_key(tmp_path: Path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "nope.conf")


def test_every_setting_is_documented():
    for field in config.settings_table():
        assert field.metadata["doc"].strip(), field.name
        assert field.metadata["section"] in (config.KOJID, config.ADJUTANT)
    page = config.docs_markdown()
    for field in config.settings_table():
        assert f"`{field.name}`" in page


def test_the_settings_page_is_current():
    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    regenerate = "regenerate: adjutant config docs > docs/settings.md"
    assert page == config.docs_markdown() + "\n", regenerate
