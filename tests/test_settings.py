"""Every option of every command is declared once and layered: flag > env > file > default."""

import pytest

from stream.cli import _all_option_names, build_parser, main
from stream.cli.settings import ConfigError, Settings, resolve

COMMANDS = build_parser()._subparsers._group_actions[0].choices


def declared(command: str):
    return COMMANDS[command].get_default("options")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_is_declared_once_per_command(command):
    names = [option.name for option in declared(command)]
    assert len(names) == len(set(names))
    flags = [option.flag for option in declared(command) if not option.positional]
    assert len(flags) == len(set(flags))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_layered_option_reads_its_environment_variable(command):
    for option in declared(command):
        if not option.layered or option.default in (None, "", [], ()) or option.secret:
            continue
        value = "true" if option.boolean else str(option.default)
        if option.boolean:
            value = "false" if option.default else "true"
        args = COMMANDS[command].parse_args(_positionals(command))
        required = {o.env: "x" for o in declared(command) if o.required}
        settings = resolve(args, {**required, option.env: value}, declared(command))
        assert settings.sources[option.name] == "env", option.name
        if option.boolean:
            assert settings[option.name] is (not option.default)


def _positionals(command):
    return {"simulate": ["sre"], "evaluate": ["results"], "report": ["results"]}.get(command, [])


def test_a_config_file_sets_any_command_and_keys_of_other_commands_are_not_errors(tmp_path):
    config = tmp_path / "lookout.toml"
    config.write_text('checkpoint-rows = 5\nbootstrap_servers = "kafka:9092"\nthreshold = 0.5\n')
    args = COMMANDS["replay"].parse_args(["--threshold", "0.7"])
    settings = resolve(
        {**vars(args), "config": str(config)},
        {},
        declared("replay"),
        _all_option_names(build_parser()),
    )
    assert settings.checkpoint_rows == 5 and settings.sources["checkpoint_rows"] == "file"
    assert settings.threshold == 0.7 and settings.sources["threshold"] == "flag"
    config.write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        resolve({**vars(args), "config": str(config)}, {}, declared("replay"))


def test_settings_are_frozen():
    settings = Settings({"out": "x"})
    with pytest.raises(AttributeError):
        settings.out = "y"
    assert settings.replace(out="y").out == "y" and settings.out == "x"


def test_a_required_option_may_come_from_the_environment(tmp_path, monkeypatch, capsys):
    assert main(["report", "results"]) == 2
    assert "--out is required" in capsys.readouterr().err
    monkeypatch.setenv("LOOKOUT_OUT", str(tmp_path / "report"))
    assert main(["report", "results", "--print-config"]) == 0
    assert f"out = '{tmp_path / 'report'}'  (env)" in capsys.readouterr().out


def test_print_config_shows_every_source(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOOKOUT_CHECKPOINT_ROWS", "7")
    assert main(["replay", "--print-config", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint_rows = 7  (env)" in out and "progress = False  (flag)" in out
    assert "threshold = 0.36  (default)" in out
