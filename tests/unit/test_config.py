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


KOJID_CONF = Path(__file__).resolve().parents[1] / "data" / "kojid.conf"


def test_an_existing_kojid_conf_loads_unchanged():
    loaded = config.load(KOJID_CONF)
    assert loaded.server == "https://koji.example.com/kojihub"
    assert loaded.topurl == "https://koji.example.com/kojifiles"
    assert loaded.workdir == Path("/tmp/koji")
    assert loaded.maxjobs == 10 and loaded.sleeptime == 15 and loaded.minspace == 8192
    assert loaded.cert == Path("/etc/kojid/client.crt")
    assert loaded.mockhost == "redhat-linux-gnu"
    assert loaded.use_createrepo_c is True
    assert loaded.rlimits == (("RLIMIT_NOFILE", "4096 8192"),)
    assert loaded.plugins == ("runroot",)
    config.require_hub(loaded, str(KOJID_CONF))


def test_kojid_defaults_are_kojids():
    defaults = config.Config()
    assert (defaults.sleeptime, defaults.maxjobs, defaults.minspace) == (15, 10, 8192)
    assert (defaults.retry_interval, defaults.max_retries) == (60, 120)
    assert (defaults.offline_retry, defaults.offline_retry_interval) == (True, 120)
    assert defaults.workdir == Path("/var/tmp/koji") and defaults.topdir == Path("/mnt/koji")
    assert (defaults.packager, defaults.vendor, defaults.distribution) == ("Koji",) * 3


@pytest.mark.parametrize("text,message", [
    # kojid rejects the documented-but-unknown keepalive and ca, and so do we
    ("[kojid]\nkeepalive = True\n", "[kojid] unknown key 'keepalive'"),
    ("[kojid]\nca = /etc/ca.crt\n", "[kojid] unknown key 'ca'"),
    ("[kojid]\nmaxjobs = many\n", "[kojid] maxjobs = 'many': 'many' is not a whole number"),
    ("[kojid]\nserver = koji.example.com\n", "is not an http:// or https:// URL"),
    ("[kojid]\nRLIMIT_NOFILE = lots\n", "RLIMIT_NOFILE = 'lots'"),
    ("[kojid]\nRLIMIT_BOGUS = 1\n", "unknown resource limit 'RLIMIT_BOGUS'"),
    ("[kojid]\noffline_retry = perhaps\n", "'perhaps' is not a boolean"),
    ("[kojid]\nyum_proxy = http://bob:secret@proxy:3128\n",
     "[kojid] yum_proxy = 'http://bob:secret@proxy:3128': a proxy URL with a user or password "
     "is refused"),
    ("[kojid]\nyum_proxy = proxy:3128\n", "is not an http:// or https:// URL"),
])
def test_bad_kojid_values(tmp_path: Path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert message in str(caught.value)


def test_the_daemon_needs_server_and_topurl(tmp_path: Path):
    loaded = config.load(write(tmp_path, "[kojid]\nserver = http://hub/kojihub\n"))
    with pytest.raises(ConfigError, match=r"\[kojid\] topurl is required"):
        config.require_hub(loaded, "kojid.conf")


def test_build_ids_is_one_range_in_subuid_and_subgid(tmp_path):
    from adjutant.config import Config, build_id_range
    from adjutant.errors import ConfigError

    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("containers:2147483647:2147483648\nadjutant:1879048192:65536\n")
    subgid.write_text("alice:100000:65536\n")
    with pytest.raises(ConfigError, match=r"needs a range of at least 65536 ids for 'adjutant' "
                                          r"in .*subgid"):
        build_id_range(Config(), "kojid.conf", (subuid, subgid))
    subgid.write_text("adjutant:1879048192:1000\n")
    with pytest.raises(ConfigError, match="at least 65536"):
        build_id_range(Config(), "kojid.conf", (subuid, subgid))
    subgid.write_text("adjutant:1979048192:65536\n")
    with pytest.raises(ConfigError, match=r"its ranges in .* differ"):
        build_id_range(Config(), "kojid.conf", (subuid, subgid))
    subgid.write_text("adjutant:1879048192:65536\n")
    assert build_id_range(Config(), "kojid.conf", (subuid, subgid)) == (1879048192, 65536)
    # without user namespaces nothing is needed
    assert build_id_range(Config(build_ids=""), "kojid.conf", (tmp_path / "none",)) is None
