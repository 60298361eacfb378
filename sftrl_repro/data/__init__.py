"""SFT demonstrations for the four tasks, as Hugging Face ``datasets`` in TRL's conversational format.

* :func:`gp_sft_dataset`: GeneralPoints (GP-L / GP-VL) optimal single-turn demonstrations from the solver;
* :func:`gp_suboptimal_dataset`: multi-turn wrong-answer / feedback / correction trajectories (Fig 15);
* :func:`sft_dataset`: the demonstrations of a task and variant by name (what the notebooks call).
"""

from sftrl_repro.data.gp import gp_sft_dataset, gp_suboptimal_dataset
from sftrl_repro.data.tasks import TASKS, VARIANTS, sft_dataset

__all__ = ["gp_sft_dataset", "gp_suboptimal_dataset", "sft_dataset", "TASKS", "VARIANTS"]
