"""Every ``GAITSCOPE_*`` environment variable the package reads, in one typed settings object.

Why one object: thirteen variables used to be read with ``os.environ.get`` in twelve files, each with its own
parsing (``"0"``/``"off"`` meant "off" in one place and "on" in another) and its own silent fallback. Here each
variable is declared once, with its type, default and meaning (:class:`Settings`, pydantic-settings), and the
table in ``docs/settings.md`` is generated from these declarations (a test keeps them equal).

Every room may import this module (models/ and analysis/ included): it imports nothing of gaitscope but
:mod:`gaitscope.errors`, and pydantic-settings only (0.1-0.2 s; readers import it inside the function that
reads a setting, so a process that reads none never pays it).

:func:`settings` reads the environment once and returns the same frozen object until a ``GAITSCOPE_*`` variable
changes (tests set them with ``monkeypatch.setenv``; a dashboard rerun sees a changed variable). A value that does
not parse raises :class:`~gaitscope.errors.InvalidInputError` naming the variable, instead of a silent default.
Empty values count as unset (``GAITSCOPE_DB_URL=`` means "the embedded database").

Variables read only by the test suite, scripts and notebooks (``GAITSCOPE_TEST_PG_URL`` ...) are not part of the
package's settings; :data:`DEVELOPER_VARIABLES` lists them for the same table.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gaitscope.errors import InvalidInputError

ENV_PREFIX = "GAITSCOPE_"


class Settings(BaseSettings):
    """The package's settings; field ``x`` is read from ``$GAITSCOPE_X`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore",
                                      str_strip_whitespace=True)

    home: Optional[Path] = Field(None, description="Folder of the embedded SQLite database, the uploads and the "
                                 "normative sets (default `~/.gaitscope`).")
    db_url: Optional[str] = Field(None, description="Database URL (SQLAlchemy form, e.g. `postgresql+psycopg://"
                                  "user:pass@host:5432/db`); default: the embedded SQLite file in the home folder. "
                                  "`--db` overrides it.")
    audit_owner_role: Optional[str] = Field(None, description="PostgreSQL role that owns the audit log, used by "
                                            "migration 0007 (default `gaitscope_audit_owner`).")
    upload_dir: Optional[Path] = Field(None, description="Where the dashboard stores uploaded videos (default "
                                       "`<home>/uploads`).")
    max_upload_mb: float = Field(500.0, gt=0, description="Largest upload the dashboard accepts, in megabytes.")
    checkpoint: Optional[str] = Field(None, description="Lifter checkpoint the dashboard uses instead of the "
                                      "bundled one.")
    worker_fresh_s: float = Field(60.0, gt=0, description="How recent (s) a worker's heartbeat must be for the "
                                  "dashboard to leave queued jobs to it instead of starting its own worker.")
    stale_s: float = Field(120.0, gt=0, description="Seconds without a heartbeat after which the dashboard's "
                           "worker takes over a claimed job.")
    demo_video: bool = Field(True, description="Analyze the bundled sample video in the background when the "
                             "dashboard seeds its demo data (`0` turns it off, e.g. in tests).")
    pose_engine: Optional[str] = Field(None, description="Runtime of BlazePose's networks: `auto` (default: LiteRT "
                                       "when `ai-edge-litert` is installed, about 2x cheaper per frame), `litert` or "
                                       "`mediapipe` (same model files).")
    anchor_2d: bool = Field(True, description="Take each joint's image-plane position from the confident 2D "
                            "detections and only the depth from the lifter (measured on video of real motion: "
                            "the far knee's range from 14.5 to 5.8 deg short). `0` gives the lifter's own x, y "
                            "(comparisons, or a lifter whose input is not BlazePose's).")
    knee_depth: bool = Field(True, description="After anchoring, scale the depth of each knee's bend by the "
                             "depth scale that keeps thighs, shanks and arms at a fixed length (measured on video "
                             "of real motion: oblique knee RMSE 14.8 -> 12.2 deg, near knee range overshoot +11.0 "
                             "-> +4.7 deg; events, steps and speed unchanged). `0` keeps the lifter's depth "
                             "(comparisons).")
    ray_yaw: bool = Field(False, description="Opt-in: turn each lifted frame from its viewing ray back to the "
                          "camera's axes (horizontal field of view assumed 60 deg), so that a walker crossing a "
                          "fixed camera's view does not seem to turn (measured on the renders: no gain, four tiny "
                          "losses beyond noise; docs/validation.md). `1` turns it on.")
    leg_identity: bool = Field(True, description="Decide which detected knee and ankle are the left ones over "
                               "the whole video before lifting (the detector exchanges them for a few frames "
                               "where the legs cross). `0` lifts the labels as detected (comparisons).")
    mirror_leftward: bool = Field(True, description="Run BlazePose again on mirrored frames wherever the person "
                                  "walks toward the image's left, and map the landmarks back (BlazePose is not "
                                  "mirror-symmetric: it follows the legs of a walker moving right better; measured "
                                  "in docs/validation.md). `0` detects every frame as it is (comparisons).")
    native_logs: bool = Field(False, description="Keep the native libraries' own log lines (FFmpeg, OpenCV, "
                              "MediaPipe), for a developer chasing a library problem.")
    normative: Optional[str] = Field(None, description="Normative reference set used when `--normative` is not "
                                     "given (name or .json path); wins over `gaitscope normative use`.")
    weights_dir: Optional[Path] = Field(None, description="Folder model files are looked for in (default "
                                        "`gaitscope/models/weights/`).")
    smpl_dir: Optional[Path] = Field(None, description="Folder with the licence-gated SMPL body-model files "
                                     "(`--smpl-dir` overrides it).")
    mesh_checkpoint: Optional[str] = Field(None, description="Mesh-recovery checkpoint for the mesh activity "
                                           "(needs the SMPL files).")


#: ``GAITSCOPE_*`` variables read by the test suite, scripts and notebooks only (never by the package).
DEVELOPER_VARIABLES: dict[str, str] = {
    "GAITSCOPE_TEST_PG_URL": "PostgreSQL server the db tests run on as well as SQLite (`.ci/postgres.sh`, "
                             "`scripts/run_tests.sh` start one).",
    "GAITSCOPE_TEST_PG_SUPERUSER_URL": "Superuser URL of that server (audit-log ownership tests).",
    "GAITSCOPE_TEST_LOGIN_DB": "Internal: the database the login page test's app script opens.",
    "GAITSCOPE_TEST_VIEW": "Internal: the view the role tests render.",
    "GAITSCOPE_UPDATE_SCREENSHOTS": "`1`: the browser end-to-end test copies its screenshots to docs/screenshots/.",
    "GAITSCOPE_OFFICIAL_MOTIONBERT": "A MotionBERT checkout to compare the DSTformer with the official code.",
    "GAITSCOPE_SHARED_DATA": "Folder of the shared real data for the notebooks (default ../shared/data).",
    "GAITSCOPE_PD_MAX_PEOPLE": "Limits the real-patient PD notebook to a few people (tests).",
    "GAITSCOPE_PD_ROOT": "Folder of the real-patient PD recordings for the PD notebook.",
    "GAITSCOPE_PG_DIR": "Data folder of the throw-away PostgreSQL of `.ci/postgres.sh` (default /tmp/gaitscope-pg).",
    "GAITSCOPE_PG_PORT": "Port of that PostgreSQL (default 55432).",
    "GAITSCOPE_PG_USER": "Its user (default gaitscope).",
    "GAITSCOPE_PG_PASSWORD": "Its password (default gaitscope).",
    "GAITSCOPE_PG_DB": "Its database (default gaitscope).",
}

_LOCK = threading.Lock()
_CACHE: tuple[frozenset[tuple[str, str]], Settings] | None = None


def _snapshot() -> frozenset[tuple[str, str]]:
    return frozenset((k.upper(), v) for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX))


def settings() -> Settings:
    """The settings in effect: parsed once, parsed again only when a ``GAITSCOPE_*`` variable changed.

    Raises :class:`InvalidInputError` (naming the variable) when a value does not parse.
    """
    global _CACHE
    snap = _snapshot()
    with _LOCK:
        if _CACHE is not None and _CACHE[0] == snap:
            return _CACHE[1]
        try:
            value = Settings()
        except ValidationError as exc:
            problems = "; ".join(f"{ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                                 for e in exc.errors())
            raise InvalidInputError(f"An environment setting is not valid ({problems}).",
                                    "Fix or unset it (docs/settings.md lists every setting).") from exc
        _CACHE = (snap, value)
        return value


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field (``"db_url"`` -> ``"GAITSCOPE_DB_URL"``)."""
    if field not in Settings.model_fields:
        raise KeyError(field)
    return ENV_PREFIX + field.upper()


def settings_table() -> str:
    """The Markdown table of docs/settings.md, generated from the declarations above."""
    rows = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        kind = {"float": "number", "bool": "yes/no", "str": "text", "Path": "folder"}.get(
            getattr(field.annotation, "__name__", ""), "")
        if not kind:
            kind = "folder" if "Path" in str(field.annotation) else "text"
        if field.default is None:
            default = "(unset)"
        elif isinstance(field.default, bool):
            default = "`1`" if field.default else "`0`"
        else:
            default = f"`{field.default:g}`"
        rows.append(f"| `{env_name(name)}` | {kind} | {default} | {field.description} |")
    rows.append("")
    rows.append("Read by the test suite, scripts and notebooks only:")
    rows.append("")
    rows.append("| Variable | Meaning |")
    rows.append("|---|---|")
    rows.extend(f"| `{k}` | {v} |" for k, v in DEVELOPER_VARIABLES.items())
    return "\n".join(rows) + "\n"
