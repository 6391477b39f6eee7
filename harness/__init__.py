"""Conformance kit for the Cloud's webhook receivers.

``harness.check()`` runs a whole conformance run from Python and returns its report; the pytest suite
(the shipped test package, under pytest) and ``webhook-conformance check`` run the same engine.

PYTEST_DONT_REWRITE: the package is imported before pytest starts when the command line runs the suite,
and nothing in it relies on assertion rewriting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config.secret import Secret
    from harness.output.report import RunReport

__all__ = ["Report", "__version__", "check"]

#: The one place the version is written: pyproject.toml reads it for the package metadata.
__version__ = "0.1.0"


def check(url: str | None = None, *, secret: str | Secret | None = None, **settings: object) -> RunReport:
    """Run the whole conformance suite against ``url`` (None: the embedded reference receiver) and return
    its report: ``report.ready`` is True exactly when the verdict is READY; ``report.to_dict()`` is the JSON
    report (``schemas/report.schema.json``).

    ``settings`` are the options of the settings table by name: ``timeout=2``, ``strict=True``,
    ``parallelism=4``, ``report_json="report.json"``. Only the arguments count: no environment variable or
    ini file is read, so calls from several threads or processes at once do not meet. A value the suite cannot
    use raises ``SettingError`` (a ``ValueError``) naming the argument; an unknown name raises ``TypeError``.
    """
    from harness.config.secret import Secret
    from harness.config.settings import OPTIONS, resolve
    from harness.run.engine import Engine

    known = {o.name for o in OPTIONS} - {"target_url", "secret"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"check() got unknown settings {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    given: dict[str, str | bool | None] = {
        name: value if isinstance(value, bool) or value is None else str(value) for name, value in settings.items()
    }
    given["target_url"] = url
    given["secret"] = secret.reveal() if isinstance(secret, Secret) else secret
    with Engine(resolve({}, {}, given, arguments=True)) as engine:
        report = engine.run()
        engine.write_reports({})
        return report


def __getattr__(name: str) -> object:
    # harness.Report without importing the engine's dependencies on "import harness".
    if name == "Report":
        from harness.output.report import RunReport

        return RunReport
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
