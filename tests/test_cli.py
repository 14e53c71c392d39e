"""A mistyped path on the command line gets one clear line and exit status 2, not a traceback."""

import importlib
import subprocess
import sys

import pytest

from conftest import ROOT
from fer_model.cli import run


@pytest.mark.parametrize("script, argv, says", [
    ("evaluate", ["--model", "no/such/model"], "no such model folder"),
    ("train", ["--data", "no/such/fer2013.csv", "--out", "{tmp}/run"], "FER-2013 data not found"),
])
def test_a_wrong_path_gets_one_line_and_status_2(script, argv, says, tmp_path, capsys):
    """Each script's `__main__` is `cli.run(main)`; run here in-process on the same arguments."""
    main = importlib.import_module(script).main
    with pytest.raises(SystemExit) as exit:
        run(main, [arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    assert exit.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


def test_the_app_with_a_wrong_model_says_so_in_one_line_and_exits_2():
    # app.py builds its page at import (the module-level `demo`), so it is run as a process.
    run = subprocess.run([sys.executable, "app.py", "--model", "no/such/model"], cwd=ROOT, capture_output=True,
                         text=True, timeout=180)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "no such model folder" in lines[0], run.stderr[-2000:]


def test_a_real_process_exits_2_and_debug_shows_the_traceback():
    command = [sys.executable, "evaluate.py", "--model", "no/such/model"]
    plain = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "no such model folder" in plain.stderr
    debug = subprocess.run([*command, "--debug"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "no such model folder" in debug.stderr


def test_publishing_without_a_login_is_one_line_and_exit_2(tmp_path):
    import os

    from fer_model.folder import resolve_model

    env = {key: value for key, value in os.environ.items() if key != "HF_TOKEN"}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "fer_model", "push", str(resolve_model("fernet-fer2013")),
                          "someone/fernet"], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: not logged in to the Hugging Face Hub") and run.stderr.count("\n") == 1


def _readme_commands() -> dict[str, set[str]]:
    """Every command the README shows (code blocks and inline code), by entry point, with the
    options it uses: {"fer-model predict": {"--out", ...}, "app.py": {...}, ...}."""
    import re

    text = (ROOT / "README.md").read_text()
    found: dict[str, set[str]] = {}
    pattern = r"(?:fer-model|python -m fer_model) ([a-z][a-z-]*)([^`\n#]*)|python (app|evaluate|soup)\.py([^`\n#]*)"
    for sub, rest, script, script_rest in re.findall(pattern, text):
        entry = f"fer-model {sub}" if sub else f"{script}.py"
        options = re.findall(r"(?<![\w-])--[a-z][a-z-]+", rest or script_rest)
        found.setdefault(entry, set()).update(options)
    return found


def test_every_option_a_readme_command_uses_is_in_its_help():
    commands = _readme_commands()
    assert {"fer-model predict", "fer-model export-web", "fer-model configure", "fer-model push", "app.py",
            "evaluate.py", "soup.py"} <= set(commands), sorted(commands)
    for entry, options in commands.items():
        argv = ["-m", "fer_model", entry.split()[1]] if entry.startswith("fer-model") else [entry]
        done = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (entry, done.stderr[-500:])
        missing = [option for option in options | {"--debug"} if option not in done.stdout]
        assert not missing, f"{entry} --help lacks {missing}"


def _fer_model(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fer_model", *argv], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


@pytest.mark.parametrize("option, value", [("--crop-shift", "abc"), ("--tta-scales", "1,x")])
def test_configure_with_a_value_that_is_not_numbers_is_one_line_and_exit_2(tmp_path, option, value):
    import shutil

    from fer_model.folder import resolve_model

    shutil.copytree(resolve_model("fernet-fer2013"), tmp_path / "model")
    before = (tmp_path / "model" / "preprocessor_config.json").read_bytes()
    done = _fer_model("configure", str(tmp_path / "model"), option, value)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert option in done.stderr and repr(value) in done.stderr
    assert (tmp_path / "model" / "preprocessor_config.json").read_bytes() == before


def test_the_top_level_help_describes_every_command():
    import re

    done = _fer_model("--help")
    assert done.returncode == 0
    for command in ("predict", "configure", "export", "export-web", "export-space", "card", "push"):
        assert re.search(rf"^    {command}( |$)", done.stdout, re.MULTILINE), command
    assert "One row per face" not in done.stdout  # predict's own description stays in `predict --help`
    export = _fer_model("export", "--help").stdout
    assert "fer_model[torch]" in export and "fer_model[onnx]" not in export and "DIR" not in export


def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    done = _fer_model("export", "fernet-fer2013", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "is not empty" in done.stderr and "--overwrite" in done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_the_card_is_re_rendered_by_fer_model_card(tmp_path):
    import shutil

    from fer_model.folder import resolve_model

    shutil.copytree(resolve_model("fernet-ferplus"), tmp_path / "model")
    (tmp_path / "model" / "README.md").write_text("stale")
    done = _fer_model("card", str(tmp_path / "model"), "--card", str(tmp_path / "copy.md"))
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "model" / "README.md").read_text()
    assert card != "stale" and "FER+" in card and (tmp_path / "copy.md").is_file()
    assert "- name: model\n" in card and "FERNet (FER-2013)" not in card  # the model-index names this model
    missing = _fer_model("card", str(tmp_path))
    assert missing.returncode == 2 and "metrics.json not found" in missing.stderr


@pytest.mark.parametrize("name", ["fernet-ferplus", "fernet-fer2013", "fernet-compact"])
def test_each_shipped_card_names_its_own_model_in_the_model_index(name):
    from fer_model.folder import resolve_model

    assert f"- name: {name}\n" in (resolve_model(name) / "README.md").read_text()
