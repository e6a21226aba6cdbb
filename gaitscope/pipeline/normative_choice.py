"""Which reference ("normal") set an analysis uses: the user's choice, else the lab's default, else the bundled one.

Order of precedence (most specific first), so a lab sets its default once and a single analysis can still
override it:

1. the explicit choice (``gaitscope analyze --normative FILE``, ``AnalysisOptions.normative``);
2. the environment variable ``GAITSCOPE_NORMATIVE``;
3. the default recorded with ``gaitscope normative use FILE`` in ``$GAITSCOPE_HOME/normative.json``;
4. the bundled set (Schwartz 2008 children's curves + the GAITRite spatiotemporal table).

A choice is a path to a set's ``.json`` manifest (or a lone curve ``.csv``), the name of a set saved in
``$GAITSCOPE_HOME/normative/``, or ``schwartz2008`` for the bundled set.

The reference takes part in an analysis' identity: a non-bundled set appends its name and content digest to
the analysis version, so analyzing a file again against another reference is stored beside the first
analysis instead of being mistaken for it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from gaitscope.errors import InvalidInputError

ENV_VAR = "GAITSCOPE_NORMATIVE"
BUNDLED_ALIASES = ("schwartz2008", "bundled", "default")


def home() -> Path:
    from gaitscope.db.engine import gaitscope_home

    return gaitscope_home()


def user_dir() -> Path:
    """Where ``gaitscope normative build`` saves sets by default and where names are looked up."""
    return home() / "normative"


def config_path() -> Path:
    return home() / "normative.json"


def configured_default() -> str | None:
    """The choice in effect when none is given: ``$GAITSCOPE_NORMATIVE``, else the config file, else None."""
    from gaitscope.settings import settings

    env = settings().normative
    if env:
        return env
    p = config_path()
    if p.exists():
        try:
            value = json.loads(p.read_text()).get("default")
        except (json.JSONDecodeError, AttributeError, OSError):
            return None
        return str(value) if value else None
    return None


def set_default(choice: str | None) -> Path:
    """Record ``choice`` (checked by loading it) as this installation's default; None restores the bundled set."""
    if choice is not None and choice.lower() not in BUNDLED_ALIASES:
        ref = resolve(choice)
        choice = str(ref.path.resolve()) if ref.path is not None else choice
    p = config_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"default": choice}, indent=2) + "\n")
    return p


def _locate(choice: str) -> Path | None:
    p = Path(choice).expanduser()
    if p.exists():
        return p
    for cand in (user_dir() / choice, user_dir() / f"{choice}.json"):
        if cand.exists():
            return cand
    return None


def resolve(choice: str | None = None):
    """The :class:`~gaitscope.analysis.normative_build.ReferenceSet` for ``choice`` (see module docstring)."""
    from gaitscope.analysis.normative_build import bundled_reference_set, load_reference_set

    origin = "chosen"
    if choice is None or not str(choice).strip():
        choice = configured_default()
        origin = "configured default"
    if choice is None or str(choice).strip().lower() in BUNDLED_ALIASES:
        return bundled_reference_set()
    path = _locate(str(choice))
    if path is None:
        raise InvalidInputError(
            f"The {origin} reference set '{choice}' was not found (as a file, or by name in {user_dir()}).",
            "Give the path of a set's .json file (see `gaitscope normative list`), or unset "
            f"{ENV_VAR} / run `gaitscope normative use schwartz2008` to use the bundled reference.",
        )
    try:
        return load_reference_set(path)
    except ValueError as exc:
        raise InvalidInputError(f"The reference set {path} cannot be used: {exc}",
                                "Rebuild it with `gaitscope normative build DIR --out FILE`.") from exc


def is_bundled(ref) -> bool:
    from gaitscope.analysis.normative_build import BUNDLED_NAME

    return ref.path is None and ref.name == BUNDLED_NAME


def analysis_version(ref) -> str:
    """The analysis version an analysis against ``ref`` is stored under."""
    from gaitscope.analysis.report import ANALYSIS_VERSION

    return ANALYSIS_VERSION if is_bundled(ref) else f"{ANALYSIS_VERSION}; reference {ref.identity}"


def analyze_with(motion, ref, *, height_m: float | None = None, age: float | None = None, sex: str | None = None):
    """``analyze_gait`` against ``ref``; the report's analysis version names a non-bundled reference.
    ``age`` (years) and ``sex`` ("M"/"F") pick the spatiotemporal normal ranges."""
    from gaitscope.analysis.report import analyze_gait

    if is_bundled(ref):
        return analyze_gait(motion, height_m=height_m, age=age, sex=sex)
    report = analyze_gait(motion, height_m=height_m, age=age, sex=sex, curve_reference=ref.curves,
                          spatiotemporal_reference=ref.spatiotemporal)
    return replace(report, analysis_version=analysis_version(ref))


def list_sets() -> list[dict]:
    """The bundled set and every set saved in :func:`user_dir`, with the one in effect marked."""
    from gaitscope.analysis.normative_build import BUNDLED_NAME, load_reference_set

    current = configured_default()
    current_path = _locate(current) if current and current.lower() not in BUNDLED_ALIASES else None
    rows = [{"name": BUNDLED_NAME, "path": "(bundled)", "subjects": "5 speed classes",
             "children": True, "default": current_path is None}]
    d = user_dir()
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            ref = load_reference_set(p)
        except ValueError:
            continue
        rows.append({"name": ref.name, "path": str(p), "subjects": f"{ref.n_subjects} subjects",
                     "children": ref.children,
                     "default": current_path is not None and current_path.resolve() == p.resolve()})
    if current_path is not None and not any(r["default"] for r in rows):
        ref = load_reference_set(current_path)
        rows.append({"name": ref.name, "path": str(current_path), "subjects": f"{ref.n_subjects} subjects",
                     "children": ref.children, "default": True})
    return rows
