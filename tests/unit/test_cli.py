"""pyrun.cli: runc-style flag parsing, and main()'s exit codes and one-line errors."""

import json

import pytest

from pyrun import __version__
from pyrun.cli import CREATE_FLAGS, UsageError, main, parse_flags
from pyrun.errors import PyrunError
from pyrun.runtime.kill import parse_signal

# --------------------------------------------------------------------------------------
# parse_flags


def test_value_flag_separate_argument():
    assert parse_flags(["--bundle", "/b", "c1"], CREATE_FLAGS) == ({"bundle": "/b"}, ["c1"])


def test_value_flag_with_equals():
    assert parse_flags(["--bundle=/b", "c1"], CREATE_FLAGS) == ({"bundle": "/b"}, ["c1"])


def test_value_flag_with_equals_keeps_later_equals():
    assert parse_flags(["--pid-file=/a=b"], CREATE_FLAGS) == ({"pid_file": "/a=b"}, [])


def test_single_dash_long_flag():
    assert parse_flags(["-bundle", "/b", "c1"], CREATE_FLAGS) == ({"bundle": "/b"}, ["c1"])


def test_short_alias():
    assert parse_flags(["-b", "/b", "c1"], CREATE_FLAGS) == ({"bundle": "/b"}, ["c1"])


def test_boolean_flag():
    assert parse_flags(["--no-pivot", "c1"], CREATE_FLAGS) == ({"no_pivot": True}, ["c1"])


def test_boolean_flag_explicit_true_and_false():
    assert parse_flags(["--no-pivot=false", "--no-new-keyring=true"], CREATE_FLAGS) == (
        {"no_pivot": False, "no_new_keyring": True}, [])


def test_boolean_flag_does_not_take_the_next_argument():
    assert parse_flags(["--no-pivot", "false"], CREATE_FLAGS) == ({"no_pivot": True}, ["false"])


def test_boolean_flag_rejects_other_values():
    with pytest.raises(UsageError, match="invalid boolean value"):
        parse_flags(["--no-pivot=yes"], CREATE_FLAGS)


def test_unknown_flag():
    with pytest.raises(UsageError, match="flag provided but not defined: --nope"):
        parse_flags(["--nope", "c1"], CREATE_FLAGS)


def test_missing_value():
    with pytest.raises(UsageError, match="flag needs an argument: --bundle"):
        parse_flags(["--bundle"], CREATE_FLAGS)


def test_stops_at_first_positional():
    assert parse_flags(["c1", "--bundle", "/b"], CREATE_FLAGS) == ({}, ["c1", "--bundle", "/b"])


def test_stops_at_double_dash():
    assert parse_flags(["--no-pivot", "--", "--bundle", "x"], CREATE_FLAGS) == (
        {"no_pivot": True}, ["--bundle", "x"])


def test_single_dash_alone_is_positional():
    assert parse_flags(["-", "x"], CREATE_FLAGS) == ({}, ["-", "x"])


def test_value_may_look_like_a_flag():
    assert parse_flags(["--pid-file", "--odd", "c1"], CREATE_FLAGS) == (
        {"pid_file": "--odd"}, ["c1"])


def test_later_flag_overrides_earlier():
    assert parse_flags(["-b", "/1", "--bundle", "/2"], CREATE_FLAGS) == ({"bundle": "/2"}, [])


def test_empty_argv():
    assert parse_flags([], CREATE_FLAGS) == ({}, [])


# --------------------------------------------------------------------------------------
# main()


def _stderr_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert err.startswith("pyrun: ")
    return err.rstrip("\n")


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"pyrun version {__version__}"
    assert out.splitlines()[1] == "spec: 1.0.2"


def test_short_version(capsys):
    assert main(["-v"]) == 0
    assert capsys.readouterr().out.startswith("pyrun version ")


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: pyrun")


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 1
    assert capsys.readouterr().out.startswith("usage: pyrun")


def test_command_help(capsys):
    assert main(["kill", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: pyrun kill [options] <container-id>")


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 1
    assert "no such command 'frobnicate'" in _stderr_line(capsys)


def test_unknown_global_flag(capsys):
    assert main(["--frob", "list"]) == 1
    assert _stderr_line(capsys) == "pyrun: flag provided but not defined: --frob"


def test_kill_invalid_signal(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "kill", "c1", "FOO"]) == 1
    assert _stderr_line(capsys) == "pyrun: kill c1: invalid signal 'FOO'"


def test_kill_without_id(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "kill"]) == 1
    assert "kill takes <container-id> [SIGNAL]" in _stderr_line(capsys)


def test_state_of_unknown_container(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "state", "nope"]) == 1
    line = _stderr_line(capsys)
    assert line.startswith("pyrun: state nope: ")
    assert line.endswith("does not exist")


def test_state_with_invalid_id(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "state", "../x"]) == 1
    assert "invalid" in _stderr_line(capsys)


def test_state_takes_exactly_one_id(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "state", "a", "b"]) == 1
    assert "expected exactly one container id, got 2 arguments" in _stderr_line(capsys)


def test_list_of_empty_root_prints_only_the_header(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out == "ID   PID   STATUS   BUNDLE   CREATED   OWNER\n"


def test_list_json_of_empty_root(capsys, tmp_path):
    assert main(["--root", str(tmp_path), "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_error_is_logged_as_json(capsys, tmp_path):
    log = tmp_path / "log.json"
    argv = ["--root", str(tmp_path), "--log", str(log), "--log-format", "json", "state", "x"]
    assert main(argv) == 1
    line = _stderr_line(capsys)
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(entries) == 1
    assert entries[0]["level"] == "error"
    assert entries[0]["msg"] == line.removeprefix("pyrun: ")
    assert "time" in entries[0]


def test_features_reports_what_pyrun_does(capsys):
    assert main(["features"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["hooks"][0] == "prestart" and len(doc["hooks"]) == 6
    assert {"user", "time"} <= set(doc["linux"]["namespaces"])
    seccomp = doc["linux"]["seccomp"]
    assert seccomp["enabled"] and "SCMP_ACT_NOTIFY" in seccomp["actions"]
    assert len(seccomp["operators"]) == 7 and "SCMP_ARCH_X86_64" in seccomp["archs"]
    assert doc["annotations"]["io.github.seccomp.libseccomp.version"].count(".") == 2
    assert "rbind" in doc["mountOptions"] and "tmpcopyup" in doc["mountOptions"]


@pytest.mark.parametrize("command", ["exec", "pause", "resume", "ps", "events", "update"])
def test_later_commands_on_an_unknown_id_say_it_does_not_exist(capsys, tmp_path, command):
    # exec's failures are runc's 255, told apart from the exec'd program's own status
    assert main(["--root", str(tmp_path), command, "nope"]) == (255 if command == "exec" else 1)
    assert "does not exist" in _stderr_line(capsys)


def test_spec_writes_config_and_refuses_to_overwrite(capsys, tmp_path):
    assert main(["spec", "--bundle", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["ociVersion"] == "1.0.2"
    assert main(["spec", "-b", str(tmp_path)]) == 1
    assert "file exists" in _stderr_line(capsys)


# --------------------------------------------------------------------------------------
# kill's signal names


@pytest.mark.parametrize(("text", "number"), [
    ("TERM", 15), ("SIGTERM", 15), ("term", 15), ("sigterm", 15), ("9", 9), ("KILL", 9),
    ("SIGKILL", 9), ("hup", 1), ("USR1", 10), ("64", 64),
    ("0", 0),  # as runc: no signal, the processes are only checked for
    ("RTMIN+3", 37), ("SIGRTMAX-1", 63), ("rtmin", 34), ("CHLD", 17),  # runc's names too
])
def test_parse_signal_accepts(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["FOO", "SIGFOO", "999", "65", "-9", "", "SIG", "9x",
                                  "TERM ", "SIG_DFL", "SIG_IGN", "RTMIN+40", "SIGRTMIN-1",
                                  "RTMAX+1", "RTMIN+", "TERM+1"])
def test_parse_signal_rejects(text):
    with pytest.raises(PyrunError, match="invalid signal"):
        parse_signal(text)
