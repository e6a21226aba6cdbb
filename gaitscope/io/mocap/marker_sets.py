"""Declared marker sets: which labels play which anatomical role, per lab convention.

A role (``"R.asis"``, ``"L.knee_lat"``...) maps to alternative labels; the first one present in the file wins.
An alternative written ``"A+B"`` means the midpoint of markers A and B (e.g. a toe point between the first and
fifth metatarsal heads). Labels are compared after :func:`~gaitscope.io.mocap.markers.normalize_label`,
so spacing, dots and case do not matter.

Roles used by :mod:`~gaitscope.io.mocap.joint_centres`:

* pelvis: ``asis`` (required), ``psis`` or the set-level ``sacrum`` (one of them required), ``hjc`` (virtual
  hip joint centre; when present it replaces the Harrington regression)
* leg: ``knee_lat`` (required), ``knee_med``, ``ankle_lat`` (required), ``ankle_med``, ``heel`` (required),
  ``toe``
* trunk and arms (optional): ``c7``, ``clav``, ``strn``, ``t10``, ``head`` (alternatives averaged),
  ``head_front``, ``shoulder``, ``elbow_lat``, ``elbow_med``, ``wrist_a``, ``wrist_b``

``calibrated`` declares markers that only the static trial carries (medial/lateral epicondyles and malleoli
in the Horst set) and the technical cluster that carries them into the walking trials (Cappozzo et al. 1995,
Clin Biomech 10:171, calibrated anatomical systems technique).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SIDES = ("R", "L")
REQUIRED_LEG_ROLES = ("asis", "knee_lat", "ankle_lat", "heel")


@dataclass(frozen=True)
class MarkerSet:
    name: str
    description: str
    roles: dict[str, tuple[str, ...]]  # "R.knee_lat" -> ("RKNE",), "sacrum" -> ("SACR", "VSAC")
    calibrated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # static-only marker -> cluster labels
    knee_width_m: float = 0.105  # used only when no medial marker: see joint_centres.knee_centre
    ankle_width_m: float = 0.070

    def alternatives(self, role: str) -> tuple[str, ...]:
        return self.roles.get(role, ())

    def all_labels(self) -> set[str]:
        out = set()
        for alts in self.roles.values():
            for a in alts:
                out.update(a.split("+"))
        return out


def _sided(spec: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Expand ``{"asis": ("{s}ASI",)}`` into ``R.asis``/``L.asis`` roles.

    ``{s}`` becomes R|L, ``{side}`` Right|Left and ``{l}`` r|l.
    """
    out = {}
    for role, alts in spec.items():
        for s in SIDES:
            word = "Right" if s == "R" else "Left"
            out[f"{s}.{role}"] = tuple(a.format(s=s, side=word, l=s.lower()) for a in alts)
    return out


PLUG_IN_GAIT = MarkerSet(
    name="plug-in-gait",
    description="Vicon Plug-in-Gait / CGM full body (Davis et al. 1991; Kadaba et al. 1990)",
    roles={
        **_sided({
            "asis": ("{s}ASI", "{s}ASIS"),
            "psis": ("{s}PSI", "{s}PSIS"),
            "hjc": ("{s}HJC",),
            "knee_lat": ("{s}KNE",),
            "knee_med": ("{s}KNM", "{s}MKNE", "{s}KNEM", "{s}KNE_MED"),
            "ankle_lat": ("{s}ANK",),
            "ankle_med": ("{s}MED", "{s}ANM", "{s}MMA", "{s}ANK_MED"),
            "heel": ("{s}HEE",),
            "toe": ("{s}TOE",),
            "shoulder": ("{s}SHO",),
            "elbow_lat": ("{s}ELB",),
            "elbow_med": ("{s}ELM", "{s}MELB"),
            "wrist_a": ("{s}WRA", "{s}WRI"),
            "wrist_b": ("{s}WRB",),
        }),
        "sacrum": ("SACR", "VSAC", "SACRUM"),
        "c7": ("C7",),
        "t10": ("T10",),
        "clav": ("CLAV", "IJ"),
        "strn": ("STRN", "PX"),
        "head": ("LFHD+RFHD+LBHD+RBHD",),
        "head_front": ("LFHD+RFHD",),
    },
)

HORST2019 = MarkerSet(
    name="horst2019",
    description=("Horst et al. 2019 full-body set (54 markers: iliac spines + sacrum, thigh/shank clusters of 4; "
                 "knee and ankle epicondyle/malleolus markers only in the static trial)"),
    roles={
        **_sided({
            "asis": ("{s} ILIAC",),
            "knee_lat": ("{s} KNEE LAT",),
            "knee_med": ("{s} KNEE MED",),
            "ankle_lat": ("{s} ANKLE LAT",),
            "ankle_med": ("{s} ANKLE MED",),
            "heel": ("{s} HEEL",),
            "toe": ("{s} FOOT LAT+{s} FOOT MED",),
            "shoulder": ("{s} ACROMION",),
            "elbow_lat": ("{s} ELBOW LAT",),
            "elbow_med": ("{s} ELBOW MED",),
            # the file's own spellings, typos included ('WIRST', 'WRITS')
            "wrist_a": ("{s} WRIST LAT", "{s} WIRST LAT"),
            "wrist_b": ("{s} WRIST MED", "{s} WIRST MED", "{s} WRITS MED"),
        }),
        "sacrum": ("SACRUM",),
        "c7": ("C7",),
        "strn": ("STERNUM",),
        "head": ("HEAD ANT+R HEAD+L HEAD",),
        "head_front": ("HEAD ANT",),
    },
    calibrated={
        **{f"{s} KNEE {p}": tuple(f"{s} THIGH {i}" for i in range(1, 5)) for s in SIDES for p in ("LAT", "MED")},
        **{f"{s} ANKLE {p}": tuple(f"{s} SHANK {i}" for i in range(1, 5)) for s in SIDES for p in ("LAT", "MED")},
    },
)

OPENCAP_LAB = MarkerSet(
    name="opencap-lab",
    description=("OpenCap validation lab set (Uhlrich et al. 2023): ASIS/PSIS, virtual R_HJC/L_HJC, lateral "
                 "knee and ankle only, calcaneus and toe, shoulders/elbows/wrists, C7 and sternum; no head"),
    roles={
        **_sided({
            "asis": ("{s}.ASIS", "{l}.ASIS"),
            "psis": ("{s}.PSIS", "{l}.PSIS"),
            "hjc": ("{s}_HJC",),
            "knee_lat": ("{s}_knee", "{l}_knee"),
            "knee_med": ("{s}_mknee", "{l}_mknee"),
            "ankle_lat": ("{s}_ankle", "{l}_ankle"),
            "ankle_med": ("{s}_mankle", "{l}_mankle"),
            "heel": ("{s}_calc", "{l}_calc"),
            "toe": ("{s}_toe", "{l}_toe"),
            "shoulder": ("{s}_Shoulder",),
            "elbow_lat": ("{s}_elbow_lat",),
            "elbow_med": ("{s}_elbow_med",),
            "wrist_a": ("{s}_wrist_radius",),
            "wrist_b": ("{s}_wrist_ulna",),
        }),
        "c7": ("C7",),
        "strn": ("L_Sternum+R_Sternum",),
    },
)

CAMARGO2021 = MarkerSet(
    name="camargo2021",
    description=("Camargo et al. 2021 lower-body set (28 markers): ASIS/PSIS, lateral knee and ankle, heel, "
                 "toe tip, thigh and shank clusters; no trunk, arm or head markers"),
    roles=_sided({
        "asis": ("{s}_ASIS",),
        "psis": ("{s}_PSIS",),
        "knee_lat": ("{s}_Knee_Lat",),
        "knee_med": ("{s}_Knee_Med",),
        "ankle_lat": ("{s}_Ankle_Lat",),
        "ankle_med": ("{s}_Ankle_Med",),
        "heel": ("{s}_Heel",),
        "toe": ("{s}_Toe_Tip", "{s}_Toe_Lat+{s}_Toe_Med"),
    }),
)

BMCLAB = MarkerSet(
    name="bmclab",
    description=("BMClab (UFABC) lower-body set: ASIS/PSIS (or virtual sacrum), lateral and medial knee and "
                 "ankle, heel, metatarsals; the Gait.c3d variant adds shoulders, elbows, wrists, C7, IJ, PX"),
    roles={
        **_sided({
            "asis": ("{s}.ASIS",),
            "psis": ("{s}.PSIS",),
            "hjc": ("V_{s}.Hip_JC",),
            "knee_lat": ("{s}.Knee",),
            "knee_med": ("{s}.Knee.Medial",),
            "ankle_lat": ("{s}.Ankle",),
            "ankle_med": ("{s}.Ankle.Medial",),
            "heel": ("{s}.Heel",),
            "toe": ("{s}.MT2", "{s}.MT1+{s}.MT5", "{s}.Toe"),
            "shoulder": ("{s}.Shoulder",),
            "elbow_lat": ("{s}.Elbow",),
            "wrist_a": ("{s}.Wrist",),
        }),
        "sacrum": ("V.Sacral", "V_Mid_PSIS"),
        "c7": ("C7",),
        "clav": ("IJ",),
        "strn": ("PX",),
    },
)

MARKER_SETS: dict[str, MarkerSet] = {m.name: m for m in (PLUG_IN_GAIT, HORST2019, OPENCAP_LAB, CAMARGO2021, BMCLAB)}
