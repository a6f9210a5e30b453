# pipelines/act_sim.mk — ACT in simulation, record -> slice -> stats -> chunk -> train -> evaluate
# -> video, plots and report, as ordinary make rules over the files of one run directory (the
# rules: sim_stages.mk, shared with dp_sim.mk).
#
#   make -f pipelines/act_sim.mk [TASK=transfer_cube] [DEMOS=50] [STEPS=...] [VAR=value...] [TARGET]
#
# Every output is a file target, so an interrupted run resumes where it stopped (recording and
# evaluation keep their finished episodes, training resumes from its last checkpoint) and a
# second run does nothing. Each stage's variables are kept in $(RUN_DIR)/config/<stage>.txt,
# rewritten only when their values change, so changing a variable redoes only the stages that
# depend on it (CHUNK retrains and re-evaluates but does not re-record; EVAL_EPISODES only
# re-evaluates). Targets: all (default), record, stats, train, eval, video, plots, report,
# summary (prints the success rate and the paths of the video, plots and report), help (this text).
#
# Run directory ($(RUN_DIR), default runs/$(TASK)-act):
#   episodes/episode_<seed>.hdf5   scripted demonstrations (ACT layout), record.jsonl their results
#   episodes.list                  the episode files used (DEMOS of them, seeds from RECORD_SEED)
#   stats.tar, stats.json          normalization statistics (normstats stream and LeRobot JSON)
#   ckpt.h5, ckpt.best.h5          last and lowest-validation-loss checkpoints; train.jsonl its log;
#   train.time                     training wall time in seconds; ckpts/ckpt.step<N>.h5 (EVAL_EVERY)
#   eval.jsonl                     one JSON line per evaluation episode, then the summary line
#   eval.mp4                       the first VIDEO_EPISODES evaluation episodes (H.264), rendered at
#                                  VIDEO_SIZE (not the policy's IMAGE_SIZE) with the camera, seed,
#                                  reward stage and success drawn on the frames
#   still_success.png, still_failure.png  the final state of the first successful and the first
#                                  failed evaluation episode; stills.tsv their seeds
#   loss.png, success.png          loss against step; success against step (with EVAL_EVERY)
#   report.md, results.tsv         the report; one TSV row of configuration -> results (sweeps)
# The chunked training stream is never stored: h5slice | chunkify | act-train is one pipe.

PIPELINE_FILE := $(lastword $(MAKEFILE_LIST))
PIPELINES := $(patsubst %/,%,$(dir $(PIPELINE_FILE)))

# ---------------------------------------------------------------- variables
TASK          ?= transfer_cube
DEMOS         ?= 50
RECORD_SEED   ?= 0
# EXPERT_ARGS: the scripted expert's settings, KEY=VALUE words (rollout -p scripted --policy-arg)
CAMERAS       ?= top
IMAGE_SIZE    ?= 120x160
MAX_STEPS     ?=
# Model and training; empty means act-train's own default.
CHUNK         ?= 100
HIDDEN        ?=
FF            ?=
ENC_LAYERS    ?=
DEC_LAYERS    ?=
KL            ?=
LR            ?=
BATCH         ?=
STEPS         ?= 4000
TRAIN_SEED    ?= 0
THREADS       ?= $(NPROC)
# Validate (and save ckpt.h5) every SAVE_EVERY steps, log every LOG_EVERY; empty: act-train's.
SAVE_EVERY    ?=
LOG_EVERY     ?=
TRAIN_ARGS    ?=
# Evaluation: seeds disjoint from the recording seeds.
EVAL_EPISODES ?= 50
EVAL_SEED     ?= 100000
EVAL_EVERY    ?=
EVAL_EVERY_EPISODES ?= $(EVAL_EPISODES)
EVAL_CKPT     ?= last
# EVAL_POLICY (default: the checkpoint EVAL_CKPT names) may be 'scripted': the expert, evaluated
# on the same seeds as a baseline (for the intermediate checkpoints too).
TEMPORAL_AGG  ?=
EVAL_ARGS     ?=
VIDEO_EPISODES ?= 3
VIDEO_SIZE    ?= 240x320
JOBS          ?= $(NPROC)
RUN_DIR       ?= runs/$(TASK)-act
DATA_DIR      ?= $(RUN_DIR)

R := $(RUN_DIR)
D := $(DATA_DIR)
EVAL_POLICY ?= $(if $(filter best,$(EVAL_CKPT)),$R/ckpt.best.h5,$R/ckpt.h5)
EVAL_POLICY_FILE := $(filter-out scripted,$(EVAL_POLICY))

# ---------------------------------------------------------------- the policy
PIPELINE      := act_sim
POLICY_LABEL  := ACT
TRAINER       := act-train
LAYOUT        := act
RECORD_ARGS   :=
SLICE_ARGS    :=
CHUNK_ARGS    := -k $(CHUNK)
TRAIN_VARS    := CHUNK HIDDEN FF ENC_LAYERS DEC_LAYERS KL LR BATCH STEPS TRAIN_SEED THREADS \
                 SAVE_EVERY LOG_EVERY CAMERAS EVAL_EVERY TRAIN_ARGS
TRAIN_OPTS = --seed $(TRAIN_SEED) --threads $(THREADS) --chunk $(CHUNK) \
  --cameras $(CAMERAS) $(call opt,--hidden-dim,$(HIDDEN)) $(call opt,--dim-feedforward,$(FF)) \
  $(call opt,--enc-layers,$(ENC_LAYERS)) $(call opt,--dec-layers,$(DEC_LAYERS)) \
  $(call opt,--kl-weight,$(KL)) $(call opt,--lr,$(LR)) $(call opt,--batch-size,$(BATCH)) \
  $(call opt,--save-every,$(SAVE_EVERY)) $(call opt,--log-every,$(LOG_EVERY)) $(TRAIN_ARGS)
# train.jsonl's field names (act-train --log)
LOSS_FIELD     ?= loss
VAL_LOSS_FIELD ?= val_loss
L1_FIELD       ?= l1

include $(PIPELINES)/sim_stages.mk
