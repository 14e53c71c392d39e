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

    from fer_model.shipped import resolve_model

    env = {key: value for key, value in os.environ.items() if key != "HF_TOKEN"}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "fer_model", "push", str(resolve_model("fernet-fer2013")),
                          "someone/fernet"], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: not logged in to the Hugging Face Hub") and run.stderr.count("\n") == 1
    # The entry of earlier releases names the command that replaced it, in one line.
    old = subprocess.run([sys.executable, "-m", "fer_model.hub", "push", "folder", "someone/fernet"],
                         capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert old.returncode == 2 and old.stderr.count("\n") == 1 and "fer-model push FOLDER REPO_ID" in old.stderr


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
