"""Generated payloads (DLV-6): shaped like the Cloud's, valid, deterministic, and a bounded, quiet search."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness.payloads.events import DOCUMENT_EVENTS, VALIDATE
from harness.payloads.generate import Exploration, _setting_values, cloud_shaped_schema, explore
from harness.payloads.schemas import event_schema, load, sample_data, validator

DEFAULT_FIELDS = ["doctype", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"]
BENCH = "Bench Status Update"


def collect(event: str, examples: int, seed: int = 0) -> list[dict[str, Any]]:
    """The payloads an exploration sends to a receiver that accepts everything."""
    sent: list[dict[str, Any]] = []
    found = explore(event, sent.append, lambda result: False, examples=examples, seed=seed)
    assert found == Exploration(sent=len(sent), failure=None, payload=None, budget_exhausted=False)
    return sent


def real_schema(event: str) -> Mapping[str, Any]:
    schema = event_schema(event)
    assert schema is not None
    return schema


def non_ascii_name(payload: dict[str, Any]) -> int:
    """A receiver that answers 500 to a name outside ASCII."""
    return 500 if not payload["name"].isascii() else 200


def is_error(status: int) -> bool:
    return status >= 400


class Recorder:
    """``send`` for a receiver given as a function of the payload; records what was sent and answered."""

    def __init__(self, answer: Callable[[dict[str, Any]], int]) -> None:
        self.answer = answer
        self.log: list[tuple[dict[str, Any], int]] = []

    def __call__(self, payload: dict[str, Any]) -> int:
        status = self.answer(payload)
        self.log.append((json.loads(json.dumps(payload)), status))
        return status


# --------------------------------------------------------------------------------------------------
# The cloud-shaped schema


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_cloud_shaped_schema_requires_every_listed_key_and_forbids_others(event: str) -> None:
    schema = cloud_shaped_schema(event)
    Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema)
    assert list(schema["properties"])[:8] == DEFAULT_FIELDS
    assert schema["required"] == list(schema["properties"])
    assert schema["additionalProperties"] is False
    # Both examples are what the sender sends, so they fit; one key fewer or one more does not.
    strict = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for example in real_schema(event)["examples"]:
        assert list(example) == list(schema["properties"])
        assert strict.is_valid(example)
    example = sample_data(event)
    assert not strict.is_valid({key: value for key, value in example.items() if key != "modified"})
    assert not strict.is_valid({**example, "conformance_new_field": 1})
    # The inlined common definitions still constrain.
    assert not strict.is_valid({**example, "docstatus": 3})
    assert not strict.is_valid({**example, "modified": "2026-06-18T10:02:14"})


def test_cloud_shaped_schema_is_a_fresh_copy_for_document_events_only() -> None:
    cloud_shaped_schema(BENCH)["properties"].clear()
    assert cloud_shaped_schema(BENCH)["properties"]
    for event in (VALIDATE, "Site Backup Update"):
        with pytest.raises(KeyError):
            cloud_shaped_schema(event)


# --------------------------------------------------------------------------------------------------
# The payloads


@pytest.mark.parametrize("event", DOCUMENT_EVENTS)
def test_generated_payloads_are_valid_utf8_json_in_the_senders_order(event: str) -> None:
    real = validator(real_schema(event))
    shape = cloud_shaped_schema(event)
    datetimes = [key for key, value in shape["properties"].items() if value.get("pattern") == datetime_pattern()]
    payloads = collect(event, examples=25)
    assert len({json.dumps(p) for p in payloads}) > 20
    for payload in payloads:
        assert list(real.iter_errors(payload)) == []
        assert list(payload) == list(shape["properties"])
        json.dumps(payload, allow_nan=False)
        for text in strings(payload):
            text.encode("utf-8")  # no lone surrogate
            assert "\x00" not in text
        # Real datetimes, as str() renders them: a receiver may parse them.
        for key in datetimes:
            if payload[key] is not None:
                assert str(dt.datetime.fromisoformat(payload[key])) == payload[key]


def datetime_pattern() -> str:
    pattern: str = load("common")["$defs"]["datetime"]["pattern"]
    return pattern


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_the_same_seed_sends_the_same_payloads_in_the_same_order() -> None:
    first = collect(BENCH, examples=15, seed=7)
    assert collect(BENCH, examples=15, seed=7) == first
    assert collect(BENCH, examples=15, seed=8) != first


def test_modules_the_process_loaded_do_not_change_the_payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # hypothesis draws constants from every loaded module that is not installed; the kit switches that off.
    from hypothesis.internal.conjecture import providers

    original = providers._get_local_constants
    before = collect(BENCH, examples=30, seed=3)
    words = [f"zq{i:03d}kx" for i in range(300)]  # hypothesis keeps strings of 20 characters at most
    (tmp_path / "generate_local_constants.py").write_text(f"WORDS = {words!r}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "generate_local_constants", __import__("generate_local_constants"))
    seen: list[int] = []

    def send(payload: dict[str, Any]) -> int:
        seen.append(len(providers._get_local_constants()))
        return 200

    explore(BENCH, send, is_error, examples=3)
    assert seen == [0, 0, 0]
    assert providers._get_local_constants is original
    assert collect(BENCH, examples=30, seed=3) == before


# --------------------------------------------------------------------------------------------------
# The search


def test_a_receiver_that_accepts_everything_gets_every_example_once() -> None:
    send = Recorder(lambda payload: 200)
    found = explore(BENCH, send, is_error, examples=12)
    assert found == Exploration(sent=12, failure=None, payload=None, budget_exhausted=False)
    assert len(send.log) == 12


def test_a_failure_is_found_shrunk_and_really_failed_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    send = Recorder(non_ascii_name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = explore(BENCH, send, is_error, examples=50)
    assert capfd.readouterr() == ("", "")
    assert [str(w.message) for w in caught] == []
    assert found.failure == 500
    assert found.budget_exhausted is False
    assert found.sent == len(send.log) <= 50 + 200
    payload = found.payload
    assert payload is not None
    # Shrunk: one character in the name, and everything else at its simplest.
    assert len(payload["name"]) == 1
    assert not payload["name"].isascii()
    assert {key: value for key, value in payload.items() if key != "name"} == {
        "doctype": "Bench",
        "owner": "",
        "creation": "2015-01-01 00:00:00",
        "modified": "2015-01-01 00:00:00",
        "modified_by": "",
        "docstatus": 0,
        "idx": 0,
        "group": "",
        "status": "Active",
        "cluster": "",
        "is_ssh_proxy_setup": 0,
        "inplace_update_docker_image": None,
    }
    # hypothesis's final replay: the last thing sent, and it failed.
    assert send.log[-1] == (payload, 500)


@pytest.mark.parametrize("budget", [0, 1, 4, 9])
def test_the_budget_caps_the_sends_and_the_payload_still_really_failed(
    budget: int, capfd: pytest.CaptureFixture[str]
) -> None:
    send = Recorder(non_ascii_name)
    found = explore(BENCH, send, is_error, examples=50, budget=budget)
    assert capfd.readouterr() == ("", "")
    assert found.sent == len(send.log) == budget
    assert found.budget_exhausted is True
    if found.payload is not None:
        assert (found.payload, found.failure) in send.log
        assert found.failure == 500
    failing = [payload for payload, status in send.log if status == 500]
    assert (found.payload is None) == (not failing)
    if failing:
        # The smallest of them, by its body.
        assert found.payload == min(failing, key=lambda p: (len(json.dumps(p)), json.dumps(p)))


def test_a_budget_smaller_than_the_examples_stops_a_passing_search() -> None:
    send = Recorder(lambda payload: 200)
    found = explore(BENCH, send, is_error, examples=20, budget=6)
    assert found == Exploration(sent=6, failure=None, payload=None, budget_exhausted=True)


def test_a_flaky_receiver_is_reported_with_a_send_that_failed() -> None:
    # Fails each payload once only: hypothesis's replay of the smallest one passes.
    seen: set[str] = set()

    def once(payload: dict[str, Any]) -> int:
        body = json.dumps(payload, sort_keys=True)
        failing = not payload["name"].isascii() and body not in seen
        seen.add(body)
        return 500 if failing else 200

    send = Recorder(once)
    found = explore(BENCH, send, is_error, examples=50)
    assert found.failure == 500
    assert (found.payload, 500) in send.log
    assert send.log[-1] == (found.payload, 200)


class ReceiverHungError(Exception):
    pass


def test_an_exception_from_send_stops_the_search_and_propagates() -> None:
    raised = ReceiverHungError("no answer in 10 s")
    calls: list[dict[str, Any]] = []

    def send(payload: dict[str, Any]) -> int:
        calls.append(payload)
        if len(calls) == 3:
            raise raised
        return 200

    with pytest.raises(ReceiverHungError) as caught:
        explore(BENCH, send, is_error, examples=50)
    assert caught.value is raised
    assert len(calls) == 3


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="examples"):
        explore(BENCH, Recorder(lambda payload: 200), is_error, examples=0)
    with pytest.raises(ValueError, match="budget"):
        explore(BENCH, Recorder(lambda payload: 200), is_error, examples=1, budget=-1)


def test_an_exception_from_the_judge_propagates_too() -> None:
    def judge(status: int) -> bool:
        raise ReceiverHungError("a broken check")

    with pytest.raises(ReceiverHungError):
        explore(BENCH, Recorder(lambda payload: 200), judge, examples=5)


def test_every_hypothesis_setting_is_pinned_so_no_profile_applies(capfd: pytest.CaptureFixture[str]) -> None:
    from hypothesis import Phase, Verbosity, settings

    assert set(_setting_values(1)) == set(inspect.signature(settings).parameters) - {"parent"}
    expected = collect(BENCH, examples=10)
    previous = settings.get_current_profile_name()
    settings.register_profile(
        "conformance-hostile",
        max_examples=2,
        derandomize=True,
        verbosity=Verbosity.debug,
        phases=[Phase.generate],
        report_multiple_bugs=True,
        deadline=1,
        print_blob=True,
    )
    settings.load_profile("conformance-hostile")
    try:
        assert collect(BENCH, examples=10) == expected
        # A receiver that fails everything: the simplest payload fails, and is reported.
        found = explore(BENCH, Recorder(lambda payload: 500), is_error, examples=30)
        assert found.payload == expected[0]
        assert found.failure == 500
    finally:
        settings.load_profile(previous)
    assert capfd.readouterr() == ("", "")


def test_no_hypothesis_folder_in_the_working_directory_and_no_output(tmp_path: Path) -> None:
    # A fresh process, as a CLI run is: hypothesis fixes its default folder at import, from the cwd.
    script = textwrap.dedent(
        """
        import sys
        import harness.payloads.generate
        assert "hypothesis" not in sys.modules, "imported eagerly"
        found = harness.payloads.generate.explore(
            "Site Plan Change", lambda p: 500, lambda s: s != 200, examples=20
        )
        assert found.failure == 500 and found.payload is not None and found.payload["idx"] == 0, found
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPOTHESIS")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert list(tmp_path.iterdir()) == []
