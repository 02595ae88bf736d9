import pytest

from adjutant.errors import AdjutantError
from adjutant.process import CommandError, run
from adjutant.quantities import format_size, parse_duration, parse_size


@pytest.mark.parametrize("text,value", [("4096", 4096), ("512M", 512 * 1024**2), ("8G", 8 << 30),
                                        ("1.5G", int(1.5 * (1 << 30))), ("2GiB", 2 << 30)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text,value", [("90", 90), ("90s", 90), ("30min", 1800), ("2h", 7200),
                                        ("1d", 86400), ("1.5m", 90)])
def test_parse_duration(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "1X"])
def test_bad_sizes(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_format_size():
    assert format_size(134217728) == "128 MiB"
    assert format_size(74_134_000) == "70.7 MiB"
    assert format_size(512) == "512 B"


def test_run_returns_output():
    assert run(["printf", "a b"]).stdout == "a b"


def test_run_failure_names_the_command_and_its_error():
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", "echo broken >&2; exit 3"])
    assert caught.value.returncode == 3
    assert str(caught.value) == (
        "command sh -c 'echo broken >&2; exit 3' failed with exit status 3: broken")


def test_run_missing_binary():
    with pytest.raises(CommandError, match="was not found"):
        run(["/nonexistent/binary"])


def test_run_timeout():
    with pytest.raises(AdjutantError, match=r"did not finish in 0\.2 s"):
        run(["sleep", "5"], timeout=0.2)


def test_accepted_statuses():
    assert run(["sh", "-c", "exit 1"], accept=(0, 1)).returncode == 1
