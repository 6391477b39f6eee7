"""The GitHub Action (action.yml), its script (.github/action/run.sh) and the workflow that uses it
(examples/github-actions.yml).

PyYAML is not among the project's dependencies, so the YAML files are read by :func:`read_yaml`, a reader of
the small block-style subset they are written in, which refuses whatever else it meets rather than guess;
:func:`test_the_yaml_reader_agrees_with_pyyaml` compares it with PyYAML wherever an interpreter has it.
The script runs as GitHub runs it, with bash, against receivers on loopback.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import harness
import tools
from conftest import free_port
from gallery import SECRET, Handler, compares_case_insensitively, correct, rejects_unknown_keys
from harness.config.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ".github/action/run.sh"
REPORTS = ("webhook-report.json", "webhook-report.md", "webhook-report.html")
#: What another step wrote to the job summary before the action ran: the action appends to it.
EARLIER_SUMMARY = "## an earlier step's summary\n"
#: A commit SHA, the only reference to another repository's action that cannot move.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")

Serve = Callable[[Handler], str]
Tree = dict[str, object]


# --- a reader of the YAML subset the files are written in -----------------------------------------------


class _Reader:
    """Block mappings, block sequences, plain and quoted scalars, ``|`` and ``>`` block scalars, comments.
    Every scalar is a string, as GitHub reads ``"true"`` and ``true`` alike; anything else is a ValueError."""

    KEY = re.compile(r"^([A-Za-z_][\w-]*):(?: +(.*))?$")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.index = 0

    def read(self) -> object:
        first = self.peek()
        value = None if first is None else self.block(first[0])
        if self.peek() is not None:
            raise ValueError(f"line {self.index + 1}: unexpected indentation")
        return value

    def peek(self) -> tuple[int, str] | None:
        """The next line that is not blank or a comment, as (indent, text); None at the end."""
        while self.index < len(self.lines):
            line = self.lines[self.index]
            if line.strip() and not line.lstrip().startswith("#"):
                if "\t" in line[: len(line) - len(line.lstrip())]:
                    raise ValueError(f"line {self.index + 1}: a tab in the indentation")
                return len(line) - len(line.lstrip(" ")), line.strip()
            self.index += 1
        return None

    def block(self, indent: int) -> object:
        line = self.peek()
        assert line is not None
        return self.sequence(indent) if _is_item(line[1]) else self.mapping(indent)

    def sequence(self, indent: int) -> list[object]:
        items: list[object] = []
        while (line := self.peek()) is not None and line[0] == indent and _is_item(line[1]):
            rest = line[1][1:]
            inner = indent + 1 + len(rest) - len(rest.lstrip(" "))
            # The item's text, moved right by its dash: a mapping in the item then reads as any mapping.
            self.lines[self.index] = " " * inner + rest.lstrip(" ")
            if self.KEY.match(rest.strip()):
                items.append(self.mapping(inner))
            else:
                self.index += 1
                items.append(_scalar(rest.strip(), self.index))
        return items

    def mapping(self, indent: int) -> Tree:
        tree: Tree = {}
        while (line := self.peek()) is not None and line[0] == indent and not _is_item(line[1]):
            match = self.KEY.match(line[1])
            if match is None:
                raise ValueError(f"line {self.index + 1}: not a `key: value` line: {line[1]!r}")
            key, value = match.group(1), (match.group(2) or "").strip()
            if key in tree:
                raise ValueError(f"line {self.index + 1}: {key!r} given twice")
            self.index += 1
            if value in ("|", "|-", ">", ">-"):
                tree[key] = self.block_scalar(indent, value)
            elif value and not value.startswith("#"):
                tree[key] = _scalar(value, self.index)
            else:
                following = self.peek()
                nested = following is not None and (
                    following[0] > indent or (following[0] == indent and _is_item(following[1]))
                )
                tree[key] = self.block(following[0]) if nested and following is not None else None
        if line is not None and line[0] > indent:
            raise ValueError(f"line {self.index + 1}: unexpected indentation")
        return tree

    def block_scalar(self, indent: int, style: str) -> str:
        start = self.index
        while self.index < len(self.lines):
            line = self.lines[self.index]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
                break
            self.index += 1
        lines = self.lines[start : self.index]
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            return ""
        margin = min(len(line) - len(line.lstrip(" ")) for line in lines if line.strip())
        lines = [line[margin:] for line in lines]
        if style.startswith(">"):
            if any(line.startswith(" ") for line in lines):
                raise ValueError(f"line {start + 1}: more-indented lines in a folded scalar are not read here")
            text = _folded(lines)
        else:
            text = "\n".join(lines)
        return text if style.endswith("-") else text + "\n"


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _folded(lines: list[str]) -> str:
    """YAML's folding: a line break between two lines of text is a space; each empty line, a newline."""
    text = lines[0]
    for before, line in itertools.pairwise(lines):
        text += "\n" if not line else (line if not before else " " + line)
    return text


def _scalar(text: str, number: int) -> str:
    if text[0] in "[{&*!|>%@`?":
        raise ValueError(f"line {number}: {text!r} is not read here (flow collections, anchors, tags)")
    if text[0] in "'\"":
        quote = text[0]
        end = 1
        while True:
            end = text.index(quote, end)
            if quote == "'" and text[end + 1 : end + 2] == "'":
                end += 2
            elif quote == '"' and text[end - 1] == "\\":
                end += 1
            else:
                break
        rest = text[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ValueError(f"line {number}: text after a quoted scalar: {rest!r}")
        inner = text[1:end]
        return inner.replace("''", "'") if quote == "'" else str(json.loads(f'"{inner}"'))
    plain = text.split(" #", 1)[0].strip()
    if ": " in plain:
        raise ValueError(f"line {number}: ': ' inside a plain scalar: {plain!r}")
    return plain


def read_yaml(text: str) -> object:
    return _Reader(text).read()


def _tree(path: str) -> Tree:
    tree = read_yaml((ROOT / path).read_text(encoding="utf-8"))
    assert isinstance(tree, dict)
    return tree


def _steps(tree: Tree, *path: str) -> list[Tree]:
    node: object = tree
    for key in path:
        assert isinstance(node, dict)
        node = node[key]
    assert isinstance(node, list)
    return [step for step in node if isinstance(step, dict)]


ACTION = _tree("action.yml")
ACTION_STEPS = _steps(ACTION, "runs", "steps")
WORKFLOW = _tree("examples/github-actions.yml")
WORKFLOW_STEPS = _steps(WORKFLOW, "jobs", "conformance", "steps")


def _pyyaml_interpreter() -> str | None:
    """An interpreter that can import PyYAML: this one, or the system's."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.access(python, os.X_OK):
            found = subprocess.run([python, "-c", "import yaml"], capture_output=True, timeout=30, check=False)
            if found.returncode == 0:
                return python
    return None


def _nulls_as_empty(value: object) -> object:
    """The tree with every null as an empty string, as PyYAML's BaseLoader reads it."""
    if isinstance(value, dict):
        return {key: _nulls_as_empty(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulls_as_empty(item) for item in value]
    return "" if value is None else value


@pytest.mark.parametrize("path", ["action.yml", "examples/github-actions.yml"])
def test_the_yaml_reader_agrees_with_pyyaml(path: str) -> None:
    python = _pyyaml_interpreter()
    if python is None:
        pytest.skip("no interpreter here has PyYAML to compare the test's YAML reader with")
    # BaseLoader reads every scalar as a string, as GitHub does (`on` is no boolean there) and as read_yaml does.
    dump = "import json, sys, yaml; print(json.dumps(yaml.load(sys.stdin, Loader=yaml.BaseLoader)))"
    text = (ROOT / path).read_text(encoding="utf-8")
    result = subprocess.run([python, "-c", dump], input=text, capture_output=True, text=True, timeout=30, check=True)
    assert _nulls_as_empty(read_yaml(text)) == json.loads(result.stdout)


def test_the_yaml_reader_refuses_what_it_does_not_read() -> None:
    for text in ("on: [push]\n", "a: &anchor b\n", "a:\n  b: c\n   d: e\n", "a: b: c\n", "a: 1\na: 2\n"):
        with pytest.raises(ValueError):  # noqa: PT011 - each message names its own construct
            read_yaml(text)


# --- action.yml -------------------------------------------------------------------------------------------


def _inputs() -> Tree:
    inputs = ACTION["inputs"]
    assert isinstance(inputs, dict)
    return inputs


def _step(steps: list[Tree], name: str) -> Tree:
    return next(step for step in steps if step.get("name") == name)


def _input(name: str) -> Tree:
    value = _inputs()[name]
    assert isinstance(value, dict)
    return value


def test_the_action_is_composite_with_a_required_url_and_optional_secret_and_strict() -> None:
    runs = ACTION["runs"]
    assert isinstance(runs, dict)
    assert runs["using"] == "composite"
    declared = {name: {k: v for k, v in _input(name).items() if k != "description"} for name in _inputs()}
    assert declared == {
        "url": {"required": "true"},
        "secret": {"required": "false", "default": ""},
        "strict": {"required": "false", "default": "false"},
        "artifact-name": {"required": "false", "default": "webhook-conformance-reports"},
    }
    assert all(_input(name)["description"] for name in _inputs())


def test_every_shell_step_calls_the_one_script() -> None:
    commands = []
    for step in ACTION_STEPS:
        if "run" in step:
            assert step["shell"] == "bash"
            run = step["run"]
            assert isinstance(run, str)
            bash, script, command = shlex.split(run)
            assert (bash, script) == ("bash", f"$GITHUB_ACTION_PATH/{SCRIPT}")
            commands.append(command)
    assert commands == ["install", "check"]
    assert (ROOT / SCRIPT).is_file()


def test_inputs_reach_the_script_only_as_environment_variables() -> None:
    # ${{ }} in a shell line is pasted in as code before the shell runs; in env it stays data.
    assert not [step["run"] for step in ACTION_STEPS if "${{" in str(step.get("run", ""))]
    check = _step(ACTION_STEPS, "Check the receiver")
    assert check["id"] == "check"
    assert check["env"] == {
        "INPUT_URL": "${{ inputs.url }}",
        "INPUT_STRICT": "${{ inputs.strict }}",
        "WEBHOOK_SECRET": "${{ inputs.secret }}",
    }
    # The secret goes to the check alone: not to pip's install (and whatever a build backend runs), not to the upload.
    assert [step["name"] for step in ACTION_STEPS if "inputs.secret" in json.dumps(step)] == ["Check the receiver"]


def test_the_reports_are_kept_whatever_the_checks_outcome() -> None:
    names = [step["name"] for step in ACTION_STEPS]
    upload = _step(ACTION_STEPS, "Keep the reports")
    assert names.index("Keep the reports") > names.index("Check the receiver")
    assert PINNED.match(str(upload["uses"]))
    assert str(upload["uses"]).startswith("actions/upload-artifact@")
    assert "always()" in str(upload["if"])
    assert upload["with"] == {
        "name": "${{ inputs.artifact-name }}",
        "path": "${{ steps.check.outputs.report-dir }}",
        "if-no-files-found": "warn",
    }


def test_the_actions_outputs_are_the_check_steps() -> None:
    outputs = ACTION["outputs"]
    assert isinstance(outputs, dict)
    for name, output in outputs.items():
        assert isinstance(output, dict)
        assert output["value"] == f"${{{{ steps.check.outputs.{name} }}}}"
    assert set(outputs) == {"exit-code", "report-dir"}


# --- the script, run as the action runs it -----------------------------------------------------------------


@dataclass(frozen=True)
class Runner:
    """The files GitHub gives a step, in a temporary directory."""

    root: Path

    @property
    def summary(self) -> Path:
        return self.root / "step-summary.md"

    @property
    def output(self) -> Path:
        return self.root / "github-output"

    @property
    def temp(self) -> Path:
        return self.root / "runner-temp"

    def env(self, **variables: str) -> dict[str, str]:
        kept = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "SYSTEMROOT") if name in os.environ}
        return {
            **kept,
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_ACTION_PATH": str(ROOT),
            **variables,
        }

    def run(self, command: str, **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ROOT / SCRIPT), command],
            env=self.env(**variables),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def outputs(self) -> dict[str, str]:
        lines = self.output.read_text(encoding="utf-8").splitlines() if self.output.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def everything_written(self, result: subprocess.CompletedProcess[str]) -> str:
        """Every byte the step showed or left behind: its output, the summary, its outputs, the reports."""
        reports = [path.read_text(encoding="utf-8") for path in (self.temp / "webhook-conformance").rglob("*.*")]
        files = [path.read_text(encoding="utf-8") for path in (self.summary, self.output) if path.exists()]
        return "\n".join([result.stdout, result.stderr, *files, *reports])


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    """A runner on which the install step has run: the venv's command is the kit this test runs."""
    runner = Runner(tmp_path)
    runner.summary.write_text(EARLIER_SUMMARY, encoding="utf-8")
    command = runner.temp / "webhook-conformance" / "venv" / "bin" / "webhook-conformance"
    command.parent.mkdir(parents=True)
    command.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m harness "$@"\n', encoding="utf-8")
    command.chmod(0o755)
    return runner


def _check(runner: Runner, url: str, *, strict: str = "false") -> subprocess.CompletedProcess[str]:
    return runner.run("check", INPUT_URL=url, INPUT_STRICT=strict, WEBHOOK_SECRET=SECRET)


@pytest.mark.parametrize(
    ("handler", "code", "verdict"),
    [
        (correct, ExitCode.OK, "READY for activation"),
        (compares_case_insensitively, ExitCode.REQUIREMENT_FAILED, "NOT READY for activation"),
    ],
    ids=["passing", "broken"],
)
def test_the_exit_code_passes_through_and_the_report_reaches_the_summary(
    runner: Runner, serve: Serve, handler: Handler, code: int, verdict: str
) -> None:
    result = _check(runner, serve(handler))
    assert result.returncode == code, result.stdout + result.stderr
    outputs = runner.outputs()
    assert outputs["exit-code"] == str(int(code))
    # The upload step keeps steps.check.outputs.report-dir: every report is there.
    reports = Path(outputs["report-dir"])
    assert sorted(path.name for path in reports.iterdir()) == sorted(REPORTS)
    markdown = (reports / "webhook-report.md").read_text(encoding="utf-8")
    assert verdict in markdown.splitlines()[0]
    assert runner.summary.read_text(encoding="utf-8") == EARLIER_SUMMARY + markdown
    report = json.loads((reports / "webhook-report.json").read_text(encoding="utf-8"))
    assert report["verdict"]["ready"] is (code == ExitCode.OK)
    assert SECRET not in runner.everything_written(result)


@pytest.mark.parametrize(("strict", "code"), [("false", ExitCode.OK), ("true", ExitCode.REQUIREMENT_FAILED)])
def test_strict_fails_on_a_should_finding(runner: Runner, serve: Serve, strict: str, code: int) -> None:
    # This receiver fails DLV-4 alone, a SHOULD requirement.
    result = _check(runner, serve(rejects_unknown_keys), strict=strict)
    assert result.returncode == code, result.stdout + result.stderr
    assert "DLV-4" in runner.summary.read_text(encoding="utf-8")


def test_an_unreachable_receiver_is_its_own_exit_code_with_a_report(runner: Runner) -> None:
    result = _check(runner, f"http://127.0.0.1:{free_port()}/webhook")
    assert result.returncode == ExitCode.TARGET_UNREACHABLE, result.stdout + result.stderr
    assert runner.outputs()["exit-code"] == str(int(ExitCode.TARGET_UNREACHABLE))
    assert "NO VERDICT" in runner.summary.read_text(encoding="utf-8")
    assert SECRET not in runner.everything_written(result)


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        # GitHub does not enforce `required: true`: a missing url is an empty one, never the embedded receiver.
        ({"INPUT_URL": ""}, "set but empty"),
        # Given after --target-url=, a URL that looks like an option is still read as a URL.
        ({"INPUT_URL": "--help"}, "is not a usable URL"),
        ({"INPUT_URL": "https://r.example.com/webhook", "INPUT_STRICT": "yes"}, "strict must be true or false"),
    ],
    ids=["empty-url", "option-as-url", "strict-not-a-boolean"],
)
def test_a_bad_input_is_a_usage_error_said_in_the_summary(runner: Runner, variables: dict[str, str], says: str) -> None:
    # A report an earlier run left in the same job must not pass for this one's, on the page or in the artifact.
    stale = runner.temp / "webhook-conformance" / "reports" / "webhook-report.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("## `PASS` READY for activation (an earlier run)\n", encoding="utf-8")
    result = runner.run("check", WEBHOOK_SECRET=SECRET, **variables)
    assert result.returncode == ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert list(Path(runner.outputs()["report-dir"]).iterdir()) == []
    assert says in result.stdout + result.stderr
    assert runner.outputs()["exit-code"] == str(int(ExitCode.USAGE_ERROR))
    summary = runner.summary.read_text(encoding="utf-8")
    assert summary.startswith(EARLIER_SUMMARY)
    assert "no report" in summary
    assert f"exited with {int(ExitCode.USAGE_ERROR)}" in summary
    assert SECRET not in runner.everything_written(result)


def test_install_makes_a_venv_of_its_own_and_installs_the_actions_checkout(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A python3 that records its calls; `-m venv DIR` makes DIR/bin/python (itself) and the kit's command.
    fake = bin_dir / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$(basename "$0") $*" >> {shlex.quote(str(log))}\n'
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && cp "$0" "$3/bin/webhook-conformance"\n'
        "fi\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    result = runner.run("install", PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stdout + result.stderr
    venv = runner.temp / "webhook-conformance" / "venv"
    assert log.read_text(encoding="utf-8").splitlines() == [
        f"python3 -m venv {venv}",
        f"python -m pip install --quiet --disable-pip-version-check {ROOT}",
        "webhook-conformance --version",
    ]


def test_the_script_refuses_a_command_it_does_not_know(runner: Runner) -> None:
    result = runner.run("uninstall")
    assert result.returncode == ExitCode.USAGE_ERROR
    assert "usage:" in result.stderr


# --- examples/github-actions.yml ---------------------------------------------------------------------------


def _home_repository() -> str:
    """owner/name of the kit's repository, from the package metadata's Homepage."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        homepage = tomllib.load(file)["project"]["urls"]["Homepage"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", homepage)
    assert match, homepage
    return match.group(1)


def _kit_step() -> Tree:
    return next(step for step in WORKFLOW_STEPS if str(step.get("uses", "")).startswith(_home_repository() + "@"))


def test_the_example_uses_the_action_at_the_release_of_this_version() -> None:
    assert _kit_step()["uses"] == f"{_home_repository()}@v{harness.__version__}"


def test_the_example_gives_the_action_its_inputs_from_repository_secrets() -> None:
    given = _kit_step()["with"]
    assert given == {"url": "${{ secrets.WEBHOOK_TARGET_URL }}", "secret": "${{ secrets.WEBHOOK_SECRET }}"}
    required = {name for name in _inputs() if _input(name).get("required") == "true"}
    assert required <= set(given) <= set(_inputs())


def test_the_example_may_only_read_the_repository() -> None:
    assert WORKFLOW["permissions"] == {"contents": "read"}


def test_every_other_action_is_pinned_to_a_commit() -> None:
    uses = [str(step["uses"]) for step in WORKFLOW_STEPS + ACTION_STEPS if "uses" in step]
    others = [use for use in uses if not use.startswith(_home_repository() + "@")]
    assert others
    assert [use for use in others if not PINNED.match(use)] == []


def test_the_example_stops_before_the_check_when_the_secret_is_missing() -> None:
    guard = _step(WORKFLOW_STEPS, "Require the secret")
    assert WORKFLOW_STEPS.index(guard) < WORKFLOW_STEPS.index(_kit_step())
    assert guard["env"] == {"WEBHOOK_SECRET": "${{ secrets.WEBHOOK_SECRET }}"}
    run = str(guard["run"])
    # The guard really stops the job when the secret is missing (GitHub passes an empty value), and lets it through
    # when set.
    for env, stops in (({}, True), ({"WEBHOOK_SECRET": ""}, True), ({"WEBHOOK_SECRET": "x"}, False)):
        result = subprocess.run(["bash", "-c", run], env=env, capture_output=True, text=True, timeout=30, check=False)
        assert (result.returncode != 0) is stops, env


def test_the_script_is_clean_for_shellcheck() -> None:
    shellcheck = tools.require("shellcheck")
    result = subprocess.run([shellcheck, str(ROOT / SCRIPT)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout
