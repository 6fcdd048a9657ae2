"""One line per reload outcome, for the status label of the Module reload panel."""

from __future__ import annotations

from app.shared.formatting import format_ms
from chimera_engine.modules.models import ReloadResult

#: The verb of each panel action, as it reads in "Could not <verb>".
VERBS = {
    "reload": "reload",
    "activate": "activate",
    "rollback": "roll back",
    "deprecated": "deprecate",
    "retired": "retire",
    "inactive": "reinstate",
    "remove": "remove the module",
    "restore": "restore the file",
}

_DONE = {"reload": "Reloaded", "activate": "Activated", "rollback": "Rolled back"}
_NOUNS = {"reload": "Reload", "activate": "Activation", "rollback": "Rollback"}


def action_of(result: ReloadResult) -> str:
    """The panel action a reload result corresponds to, judged by its origin."""
    return {"rollback": "rollback", "restore": "activate"}.get(result.origin.value, "reload")


def result_message(action: str, result: ReloadResult) -> tuple[str, str]:
    """The status text and its severity (``ok``, ``muted`` or ``critical``).

    >>> from chimera_engine.modules.models import Origin
    >>> result_message("reload", ReloadResult(module="m", ok=False, previous=2, version=3,
    ...     stage="syntax", reason="SyntaxError: invalid syntax (line 1)"))
    ('Reload of m refused at syntax: SyntaxError: invalid syntax (line 1)', 'critical')
    >>> result_message("rollback", ReloadResult(module="m", ok=True, previous=3, version=4,
    ...     origin=Origin.ROLLBACK, duration_ms=1.5))
    ('Rolled back m: v3 → v4 in 1.50 ms', 'ok')
    """
    module = result.module
    if not result.ok:
        stage = f" at {result.stage}" if result.stage else ""
        noun = _NOUNS.get(action, "Reload")
        if action == "reload" and result.origin.value != "manual":
            noun = f"{result.origin.value.replace('_', ' ').capitalize()} reload"
        return f"{noun} of {module} refused{stage}: {result.reason}", "critical"
    if result.unchanged:
        return f"{module} is unchanged: v{result.version} is already active", "muted"
    versions = f"v{result.version}"
    if result.previous is not None:
        versions = f"v{result.previous} → {versions}"
    done = _DONE.get(action, "Reloaded")
    if action == "reload" and result.origin.value not in ("manual", "restore"):
        done = f"{result.origin.value.replace('_', ' ').capitalize()}: reloaded"
    extra = f"; rebuilt {', '.join(result.dependants)}" if result.dependants else ""
    return f"{done} {module}: {versions} in {format_ms(result.duration_ms)}{extra}", "ok"
