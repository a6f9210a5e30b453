# pipelines/dp_sim.mk — Diffusion Policy in simulation, record -> slice -> stats -> chunk -> train
# -> evaluate -> video, plots and report, on the stage rules act_sim.mk uses (sim_stages.mk).
#
#   make -f pipelines/dp_sim.mk [TASK=lift|lift_abs] [NET=unet|transformer] [ENCODER=lowdim|hybrid] [VAR=value...] [TARGET]
#
# The variables, targets, resuming and run directory are act_sim.mk's (make -f
# pipelines/act_sim.mk help), with these differences: lift is recorded in robomimic's layout (one
# file, episodes ending at their first success) and its named observations OBS_KEYS become
# low-dimensional inputs; the stream carries OBS_STEPS observations per sample and HORIZON actions
# from the first of them (chunkify --obs-steps --action-start); the model is dp-train's (NET,
# ENCODER, DOWN_DIMS, CROP); evaluation samples with EVAL_SAMPLER and EVAL_STEPS (DDIM 10 by
# default). Run directory default runs/$(TASK)-dp-$(NET).
#
# lift with ENCODER=hybrid defaults to the CPU recipes of docs/results.md (about 100 min on 2
# cores): both cameras, the robot's state (no object pose), 5000 steps, a tenth of the episodes
# for validation, batch 32, lr 3e-4; for NET=unet (96% on held-out seeds) the scripted expert at
# gain 0.3 (its slower approach shows the cube's place in more images), UNet 128,256,512, warmup
# 200; for NET=transformer (74% and 82% with two training seeds) the expert at gain 0.15 (at
# 0.3 DP-T learned to ignore the cube's y), warmup 500 and dropout 0.1 (P_DROP_ATTN). TASK=lift_abs is lift with absolute
# actions (rollout(1)), recorded and observed the same way (the transformer's recipe reached 46%
# there against 74% on lift: docs/results.md).

PIPELINE_FILE := $(lastword $(MAKEFILE_LIST))
PIPELINES := $(patsubst %/,%,$(dir $(PIPELINE_FILE)))

# ---------------------------------------------------------------- variables
TASK          ?= lift
DEMOS         ?= 200
RECORD_SEED   ?= 1000
LAYOUT        ?= $(if $(filter lift%,$(TASK)),robomimic,act)
EXPERT_GAIN   ?= $(if $(filter transformer,$(NET)),0.15,0.3)
include $(PIPELINES)/sim_obs.mk
# Model and training; empty means dp-train's own default.
NET           ?= unet
LIFT_IMAGES_C := $(if $(filter unet,$(NET)),$(LIFT_IMAGES))
LIFT_IMAGES_T := $(if $(filter transformer,$(NET)),$(LIFT_IMAGES))
OBS_STEPS     ?= 2
HORIZON       ?= $(if $(filter transformer,$(NET)),10,16)
ACTION_STEPS  ?= 8
DOWN_DIMS     ?= $(if $(LIFT_IMAGES_C),128$(comma)256$(comma)512)
P_DROP_ATTN   ?= $(if $(LIFT_IMAGES_T),0.1)
CROP          ?=
LR            ?= $(if $(LIFT_IMAGES),3e-4)
BATCH         ?= $(if $(LIFT_IMAGES),32)
WARMUP        ?= $(if $(LIFT_IMAGES_C),200,$(if $(LIFT_IMAGES_T),500))
STEPS         ?= $(if $(LIFT_IMAGES),5000,6000)
VAL_FRACTION  ?= $(if $(LIFT_IMAGES),0.1)
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
EVAL_SAMPLER  ?= ddim
EVAL_STEPS    ?= 10
TEMPORAL_AGG  ?=
EVAL_ARGS     ?= --policy-arg sampler=$(EVAL_SAMPLER) --policy-arg steps=$(EVAL_STEPS)
VIDEO_EPISODES ?= 3
VIDEO_SIZE    ?= 240x320
JOBS          ?= $(NPROC)
RUN_DIR       ?= runs/$(TASK)-dp-$(NET)
DATA_DIR      ?= $(RUN_DIR)

R := $(RUN_DIR)
D := $(DATA_DIR)
EVAL_POLICY ?= $(if $(filter best,$(EVAL_CKPT)),$R/ckpt.best.h5,$R/ckpt.h5)
EVAL_POLICY_FILE := $(filter-out scripted,$(EVAL_POLICY))

# ---------------------------------------------------------------- the policy
comma := ,
empty :=
space := $(empty) $(empty)
PIPELINE      := dp_sim
POLICY_LABEL  := Diffusion Policy ($(NET))
TRAINER       := dp-train
SLICE_ARGS    := $(if $(OBS_KEYS),--obs $(subst $(space),$(comma),$(strip $(OBS_KEYS))))
CHUNK_ARGS    := -k $(HORIZON) --obs-steps $(OBS_STEPS) --action-start
LOWDIM        := $(subst $(space),$(comma),$(strip $(OBS_KEYS:%=observation.%)))
TRAIN_VARS    := LOWDIM_NORM LOWDIM_RANGE_EPS NET ENCODER OBS_KEYS OBS_STEPS HORIZON ACTION_STEPS DOWN_DIMS P_DROP_ATTN CROP LR BATCH \
                 WARMUP STEPS VAL_FRACTION TRAIN_SEED THREADS SAVE_EVERY LOG_EVERY CAMERAS EVAL_EVERY TRAIN_ARGS
opt = $(if $2,$1 $2)
TRAIN_OPTS = --seed $(TRAIN_SEED) --threads $(THREADS) --net $(NET) --encoder $(ENCODER) \
  $(if $(filter lowdim,$(ENCODER)),,--cameras $(CAMERAS)) $(call opt,--lowdim,$(LOWDIM)) \
  $(call opt,--lowdim-norm,$(LOWDIM_NORM)) \
  $(call opt,--lowdim-range-eps,$(LOWDIM_RANGE_EPS)) --obs-steps $(OBS_STEPS) --horizon $(HORIZON) --action-steps $(ACTION_STEPS) \
  $(call opt,--down-dims,$(DOWN_DIMS)) $(call opt,--p-drop-attn,$(P_DROP_ATTN)) $(call opt,--crop,$(CROP)) \
  $(call opt,--lr,$(LR)) $(call opt,--warmup,$(WARMUP)) $(call opt,--batch-size,$(BATCH)) \
  $(call opt,--val-fraction,$(VAL_FRACTION)) $(call opt,--save-every,$(SAVE_EVERY)) $(call opt,--log-every,$(LOG_EVERY)) \
  $(TRAIN_ARGS)
# train.jsonl's field names (dp-train --log); no L1 term
LOSS_FIELD     ?= loss
VAL_LOSS_FIELD ?= val_loss
L1_FIELD       ?=

include $(PIPELINES)/sim_stages.mk
