"""Environments of the study, with the Gymnasium API (pure Python + PIL, no torch).

Registered ids (``gymnasium.make(id, **kwargs)``):

* ``sftrl_repro/GeneralPoints-v0`` -> :class:`~sftrl_repro.envs.general_points.GeneralPointsEnv`
* ``sftrl_repro/VIRL-v0`` -> :class:`~sftrl_repro.envs.virl.VIRLEnv`
"""

from __future__ import annotations

import gymnasium

GENERAL_POINTS_ID = "sftrl_repro/GeneralPoints-v0"
VIRL_ID = "sftrl_repro/VIRL-v0"


def _register() -> None:
    # Registration is lazy (entry points are strings), so importing the package stays cheap.
    if GENERAL_POINTS_ID not in gymnasium.registry:
        gymnasium.register(id=GENERAL_POINTS_ID, entry_point="sftrl_repro.envs.general_points:GeneralPointsEnv")
    if VIRL_ID not in gymnasium.registry:
        gymnasium.register(id=VIRL_ID, entry_point="sftrl_repro.envs.virl:VIRLEnv")


_register()


def __getattr__(name: str):
    # Lazy attribute access: ``sftrl_repro.envs.GeneralPointsEnv`` without importing PIL at package import.
    if name == "GeneralPointsEnv":
        from sftrl_repro.envs.general_points import GeneralPointsEnv

        return GeneralPointsEnv
    if name == "VIRLEnv":
        from sftrl_repro.envs.virl import VIRLEnv

        return VIRLEnv
    raise AttributeError(name)


__all__ = ["GENERAL_POINTS_ID", "VIRL_ID", "GeneralPointsEnv", "VIRLEnv"]
