# pipelines/ibc_sim.mk — Implicit BC in simulation, record -> slice -> stats -> chunk -> train ->
# evaluate -> video, plots and report, on the stage rules act_sim.mk and dp_sim.mk use
# (sim_stages.mk).
#
#   make -f pipelines/ibc_sim.mk [TASK=lift] [INFERENCE=dfo|ibc-dfo|langevin] [ENCODER=lowdim|hybrid] [VAR=value...] [TARGET]
#
# The variables, targets, resuming and run directory are act_sim.mk's (make -f
# pipelines/act_sim.mk help), with these differences: lift is recorded in robomimic's layout (one
# file, episodes ending at their first success) and its named observations OBS_KEYS become
# low-dimensional inputs; the stream carries OBS_STEPS observations per sample and
# OBS_STEPS + ACTION_STEPS - 1 actions from the first of them (chunkify --obs-steps
# --action-start); the model is ibc-train's (ENCODER, WIDTH, NEGATIVES, CROP); evaluation searches
# with INFERENCE (dfo: DP's derivative-free optimisation; ibc-dfo: google-research/ibc's; langevin: its Langevin
# MCMC), SAMPLES samples and ITERATIONS iterations (empty: the sampler's default). IBC's success
# moves a lot between checkpoints while its loss falls: keep checkpoints with EVAL_EVERY and read
# success.png, or choose one by train_action_mse in train.jsonl. Run directory default
# runs/$(TASK)-ibc-$(INFERENCE).

PIPELINE_FILE := $(lastword $(MAKEFILE_LIST))
PIPELINES := $(patsubst %/,%,$(dir $(PIPELINE_FILE)))

# ---------------------------------------------------------------- variables
TASK          ?= lift
DEMOS         ?= 200
RECORD_SEED   ?= 1000
LAYOUT        ?= $(if $(filter lift%,$(TASK)),robomimic,act)
include $(PIPELINES)/sim_obs.mk
# Model and training; empty means ibc-train's own default.
OBS_STEPS     ?= 2
ACTION_STEPS  ?= 1
WIDTH         ?=
NEGATIVES     ?=
# google-research/ibc's gradient penalty (weight 1) where Langevin inference is the target
GRAD_PENALTY  ?= $(if $(filter langevin,$(INFERENCE)),1)
# google-research/ibc's DFO counter-examples: this fraction found by iterative DFO on the model
DFO_NEGATIVES ?=
CROP          ?=
LR            ?=
BATCH         ?=
STEPS         ?= 6000
TRAIN_SEED    ?= 0
THREADS       ?= $(NPROC)
SAVE_EVERY    ?=
LOG_EVERY     ?=
TRAIN_ARGS    ?=
EVAL_EPISODES ?= 50
EVAL_SEED     ?= 100000
EVAL_EVERY    ?=
EVAL_EVERY_EPISODES ?= $(EVAL_EPISODES)
EVAL_CKPT     ?= last
# google-research/ibc's DFO: on lift 7/10 where DP's DFO gives 0/10 for the same checkpoint
# (docs/results.md, the Implicit BC section)
INFERENCE     ?= ibc-dfo
SAMPLES       ?=
ITERATIONS    ?=
TEMPORAL_AGG  ?=
EVAL_ARGS     ?= --policy-arg sampler=$(INFERENCE) $(if $(SAMPLES),--policy-arg samples=$(SAMPLES)) \
                 $(if $(ITERATIONS),--policy-arg iterations=$(ITERATIONS))
VIDEO_EPISODES ?= 3
VIDEO_SIZE    ?= 240x320
JOBS          ?= $(NPROC)
RUN_DIR       ?= runs/$(TASK)-ibc-$(INFERENCE)
DATA_DIR      ?= $(RUN_DIR)

R := $(RUN_DIR)
D := $(DATA_DIR)
EVAL_POLICY ?= $(if $(filter best,$(EVAL_CKPT)),$R/ckpt.best.h5,$R/ckpt.h5)
EVAL_POLICY_FILE := $(filter-out scripted,$(EVAL_POLICY))

# ---------------------------------------------------------------- the policy
comma := ,
empty :=
space := $(empty) $(empty)
PIPELINE      := ibc_sim
POLICY_LABEL  := Implicit BC ($(INFERENCE))
TRAINER       := ibc-train
SLICE_ARGS    := $(if $(OBS_KEYS),--obs $(subst $(space),$(comma),$(strip $(OBS_KEYS))))
CHUNK_ARGS    := -k $(shell echo $$(($(OBS_STEPS) + $(ACTION_STEPS) - 1))) --obs-steps $(OBS_STEPS) --action-start
LOWDIM        := $(subst $(space),$(comma),$(strip $(OBS_KEYS:%=observation.%)))
TRAIN_VARS    := LOWDIM_NORM LOWDIM_RANGE_EPS ENCODER OBS_KEYS OBS_STEPS ACTION_STEPS WIDTH NEGATIVES GRAD_PENALTY DFO_NEGATIVES CROP LR BATCH STEPS TRAIN_SEED \
                 THREADS SAVE_EVERY LOG_EVERY CAMERAS EVAL_EVERY TRAIN_ARGS
opt = $(if $2,$1 $2)
TRAIN_OPTS = --seed $(TRAIN_SEED) --threads $(THREADS) --encoder $(ENCODER) \
  $(if $(filter lowdim,$(ENCODER)),,--cameras $(CAMERAS)) $(call opt,--lowdim,$(LOWDIM)) \
  $(call opt,--lowdim-norm,$(LOWDIM_NORM)) \
  $(call opt,--lowdim-range-eps,$(LOWDIM_RANGE_EPS)) --obs-steps $(OBS_STEPS) --action-steps $(ACTION_STEPS) $(call opt,--width,$(WIDTH)) \
  $(call opt,--negatives,$(NEGATIVES)) $(call opt,--grad-penalty,$(GRAD_PENALTY)) $(call opt,--dfo-negatives,$(DFO_NEGATIVES)) $(call opt,--crop,$(CROP)) $(call opt,--lr,$(LR)) \
  $(call opt,--batch-size,$(BATCH)) $(call opt,--save-every,$(SAVE_EVERY)) $(call opt,--log-every,$(LOG_EVERY)) \
  $(TRAIN_ARGS)
# train.jsonl's field names (ibc-train --log); no L1 term
LOSS_FIELD     ?= loss
VAL_LOSS_FIELD ?= val_loss
L1_FIELD       ?=

include $(PIPELINES)/sim_stages.mk
