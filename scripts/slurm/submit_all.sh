#!/bin/bash
# The whole study at the paper scale: SFT for the four tasks, then PPO from each init (chained with
# afterok), then the SFT checkpoints' evaluations. Usage: scripts/slurm/submit_all.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED="${1:-0}"
mkdir -p slurm_logs  # Slurm does not create the --output folder
for tv in "gp l" "gp vl" "virl l" "virl vl"; do
  set -- $tv
  sft=$(sbatch --parsable --job-name="sft-$1-$2" scripts/slurm/sft.sbatch "$1" "$2" "$SEED")
  # VL inits: the paper names no init step for GP-VL / V-IRL-VL; the L steps are used unless INIT_STEP is set
  sbatch --dependency=afterok:"$sft" --job-name="ppo-$1-$2" scripts/slurm/ppo.sbatch "$1" "$2" "$SEED"
  for step in $(seq 100 100 1600); do
    sbatch --dependency=afterok:"$sft" --job-name="eval-$1-$2-$step" scripts/slurm/eval.sbatch \
      "runs/sft/paper-$1-$2-seed$SEED-1600steps/checkpoints/checkpoint-$step" "$1" "$2" \
      "runs/sft/paper-$1-$2-seed$SEED-1600steps/eval/checkpoint-$step.json"
  done
done
