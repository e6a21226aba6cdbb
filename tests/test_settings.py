"""The one settings object (gaitscope/settings.py): parsing, errors, re-reading, the documented table, and that no
module reads a ``GAITSCOPE_*`` variable behind its back."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gaitscope.errors import InvalidInputError
from gaitscope.settings import DEVELOPER_VARIABLES, Settings, env_name, settings, settings_table

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gaitscope"


@pytest.fixture
def clean_env(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(env_name(name), raising=False)
    return monkeypatch


def test_defaults_when_nothing_is_set(clean_env):
    s = settings()
    assert s.db_url is None and s.home is None and s.pose_engine is None
    assert s.max_upload_mb == 500.0 and s.worker_fresh_s == 60.0 and s.stale_s == 120.0
    assert s.demo_video is True and s.native_logs is False


def test_values_are_parsed_and_reread_when_the_environment_changes(clean_env, tmp_path):
    clean_env.setenv("GAITSCOPE_HOME", str(tmp_path))
    clean_env.setenv("GAITSCOPE_MAX_UPLOAD_MB", "12.5")
    clean_env.setenv("GAITSCOPE_DEMO_VIDEO", "off")
    clean_env.setenv("GAITSCOPE_NATIVE_LOGS", "1")
    first = settings()
    assert first.home == tmp_path and first.max_upload_mb == 12.5
    assert first.demo_video is False and first.native_logs is True
    assert settings() is first  # read once while nothing changes
    clean_env.setenv("GAITSCOPE_MAX_UPLOAD_MB", "3")
    assert settings().max_upload_mb == 3.0


def test_an_empty_value_counts_as_unset(clean_env):
    clean_env.setenv("GAITSCOPE_DB_URL", "")
    clean_env.setenv("GAITSCOPE_MAX_UPLOAD_MB", "")
    assert settings().db_url is None and settings().max_upload_mb == 500.0


@pytest.mark.parametrize("name,value", [("GAITSCOPE_MAX_UPLOAD_MB", "lots"), ("GAITSCOPE_STALE_S", "-5"),
                                        ("GAITSCOPE_DEMO_VIDEO", "perhaps")])
def test_a_bad_value_is_a_clear_error_naming_the_variable(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(InvalidInputError, match=name):
        settings()


def test_a_bad_value_exits_2_on_the_command_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "GAITSCOPE_HOME": str(tmp_path), "GAITSCOPE_MAX_UPLOAD_MB": "lots"}
    proc = subprocess.run([sys.executable, "-m", "gaitscope.cli.main", "db", "current"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "GAITSCOPE_MAX_UPLOAD_MB" in proc.stderr and "Traceback" not in proc.stderr


def test_readers_follow_the_settings(clean_env, tmp_path):
    """The package's readers give what the documented variables say (values chosen here, not by the code)."""
    from gaitscope.db.engine import default_url, gaitscope_home
    from gaitscope.models.checkpoints import default_weights_dir
    from gaitscope.ui.uploads import max_upload_bytes, uploads_dir

    clean_env.setenv("GAITSCOPE_HOME", str(tmp_path / "home"))
    assert gaitscope_home() == tmp_path / "home"
    assert default_url() == f"sqlite:///{tmp_path / 'home' / 'gaitscope.db'}"
    clean_env.setenv("GAITSCOPE_DB_URL", "sqlite:///elsewhere.db")
    assert default_url() == "sqlite:///elsewhere.db"
    clean_env.setenv("GAITSCOPE_MAX_UPLOAD_MB", "2")
    assert max_upload_bytes() == 2 * 1024 * 1024
    clean_env.setenv("GAITSCOPE_UPLOAD_DIR", str(tmp_path / "up"))
    assert uploads_dir() == tmp_path / "up" and (tmp_path / "up").is_dir()
    clean_env.setenv("GAITSCOPE_WEIGHTS_DIR", str(tmp_path / "w"))
    assert default_weights_dir() == tmp_path / "w"


def test_docs_table_is_the_declared_settings():
    doc = (REPO / "docs" / "settings.md").read_text()
    m = re.search(r"<!-- settings-table:start -->\n(.*)<!-- settings-table:end -->", doc, re.S)
    assert m, "docs/settings.md lost its generated table markers"
    assert m.group(1) == settings_table(), ("docs/settings.md is out of date: regenerate the table with "
                                            "`python -c \"from gaitscope.settings import settings_table; "
                                            "print(settings_table())\"`")


def test_every_gaitscope_variable_named_anywhere_is_documented():
    """A new ``GAITSCOPE_*`` name in the package, tests, scripts, notebooks or CI must join the table."""
    documented = {env_name(f) for f in Settings.model_fields} | set(DEVELOPER_VARIABLES)
    seen: dict[str, Path] = {}
    roots = [PACKAGE, REPO / "tests", REPO / "scripts", REPO / "notebooks", REPO / "benchmarks", REPO / ".ci"]
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix not in (".py", ".sh", ".ipynb", ".toml") or "__pycache__" in path.parts:
                continue
            for name in re.findall(r"GAITSCOPE_[A-Z][A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")):
                seen.setdefault(name, path)
    missing = {n: str(p.relative_to(REPO)) for n, p in seen.items() if n not in documented}
    assert not missing, f"undocumented environment variables: {missing}"


def test_no_module_reads_a_gaitscope_variable_from_the_environment_directly():
    """Only gaitscope/settings.py reads ``GAITSCOPE_*`` variables; everyone else asks :func:`settings`."""
    pattern = re.compile(r"(os\.environ(\.get)?|os\.getenv)\s*[\[(]\s*(f?[\"']GAITSCOPE_|[A-Z_]*ENV[A-Z_]*\b)")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py" and path.parent == PACKAGE:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_importing_settings_stays_cheap():
    """Every room imports it (models/ and analysis/ too): it must not pull torch, sqlalchemy, pandas or numpy."""
    code = ("import sys, gaitscope.settings; heavy = [m for m in ('torch', 'sqlalchemy', 'pandas', 'numpy', "
            "'streamlit') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"gaitscope.settings pulls in {out.stdout.strip()}"
