# Shared set-up of the Slurm launchers (sourced by sft.sbatch, ppo.sbatch, eval.sbatch).
#
# Environment (all optional):
#   SFTRL_ENV        a script to source that activates the environment (default: .venv/bin/activate
#                    of the repository, else a conda env named sftrl_repro)
#   GPUS_PER_NODE    GPUs per node (default 8, an H800 node)
#   MASTER_PORT      rendezvous port (default: 29500 + job id % 1000)
#
# Multi-node: submit with `sbatch --nodes=N ...`; one `accelerate launch` per node (srun, one task
# per node) with --num_machines N, --machine_rank = the node's index, the first node as master.
set -euo pipefail

REPO="${SLURM_SUBMIT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$REPO"
if [[ -n "${SFTRL_ENV:-}" ]]; then
  source "$SFTRL_ENV"
elif [[ -f .venv/bin/activate ]]; then
  source .venv/bin/activate
elif command -v conda >/dev/null; then
  eval "$(conda shell.bash hook)" && conda activate sftrl_repro
fi
mkdir -p slurm_logs

GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
NNODES="${SLURM_NNODES:-1}"
MASTER_ADDR="$(scontrol show hostnames "${SLURM_JOB_NODELIST:-$(hostname)}" 2>/dev/null | head -n 1 || hostname)"
MASTER_PORT="${MASTER_PORT:-$((29500 + ${SLURM_JOB_ID:-0} % 1000))}"
export MASTER_ADDR MASTER_PORT GPUS_PER_NODE NNODES
export TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}"

# Requeue-safe: Slurm sends USR1 some minutes before the time limit (#SBATCH --signal=B:USR1@600);
# the job requeues itself and the next start resumes from the run's last complete checkpoint
# (PPO: runs/ppo/<run>/checkpoints, SFT: runs/sft/<run>/checkpoints, evaluation: skips finished files).
requeue() {
  echo "$(date -u) caught USR1: requeueing job ${SLURM_JOB_ID}"
  scontrol requeue "${SLURM_JOB_ID}"
  exit 0
}
trap requeue USR1

# launch CONFIG MODULE ARGS...: accelerate launch on every node of the job (waits, so the trap fires).
launch() {
  local config="$1"; shift
  local module="$1"; shift
  local args
  printf -v args ' %q' "$@"
  srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c "accelerate launch --config_file $config \
      --num_machines $NNODES --num_processes $((NNODES * GPUS_PER_NODE)) --machine_rank \$SLURM_NODEID \
      --main_process_ip $MASTER_ADDR --main_process_port $MASTER_PORT \
      -m $module $args" &
  wait $!
}
