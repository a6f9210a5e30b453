# pipelines/act_sim.mk — ACT in simulation, record -> slice -> stats -> chunk -> train -> evaluate
# -> video, plots and report, as ordinary make rules over the files of one run directory.
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
#   eval.mp4                       the first VIDEO_EPISODES evaluation episodes (H.264)
#   loss.png, success.png          loss against step; success against step (with EVAL_EVERY)
#   report.md, results.tsv         the report; one TSV row of configuration -> results (sweeps)
# The chunked training stream is never stored: h5slice | chunkify | act-train is one pipe.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

PIPELINES := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
# The tools: this checkout's build/bin when it has one, else whatever is on PATH.
ILT_BIN ?= $(abspath $(PIPELINES)/../build/bin)
export PATH := $(ILT_BIN):$(PATH)
NPROC := $(shell nproc 2>/dev/null || echo 1)

# ---------------------------------------------------------------- variables
TASK          ?= transfer_cube
DEMOS         ?= 50
RECORD_SEED   ?= 0
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
JOBS          ?= $(NPROC)
RUN_DIR       ?= runs/$(TASK)-act
DATA_DIR      ?= $(RUN_DIR)

R := $(RUN_DIR)
D := $(DATA_DIR)
EVAL_POLICY ?= $(if $(filter best,$(EVAL_CKPT)),$R/ckpt.best.h5,$R/ckpt.h5)
EVAL_POLICY_FILE := $(filter-out scripted,$(EVAL_POLICY))

# ---------------------------------------------------------------- stage configurations
# $(call stage_config,FILE,VARIABLES): write VAR=value lines to FILE when they differ from its
# content (at parse time, so `make -q` sees the same dates as a real run); expands to FILE.
stage_config = $(if $(filter help,$(MAKECMDGOALS)),$1,$(shell mkdir -p $(dir $1) && \
  printf '%s\n' $(foreach v,$2,'$v=$($v)') > $1.$$$$ && \
  { if cmp -s $1.$$$$ $1; then rm -f $1.$$$$; else mv -f $1.$$$$ $1; fi; } && echo $1))

RECORD_VARS := TASK RECORD_SEED CAMERAS IMAGE_SIZE MAX_STEPS
TRAIN_VARS  := CHUNK HIDDEN FF ENC_LAYERS DEC_LAYERS KL LR BATCH STEPS TRAIN_SEED THREADS \
               SAVE_EVERY LOG_EVERY CAMERAS EVAL_EVERY TRAIN_ARGS
EVAL_VARS   := TASK CAMERAS IMAGE_SIZE MAX_STEPS EVAL_EPISODES EVAL_SEED EVAL_CKPT EVAL_POLICY TEMPORAL_AGG \
               EVAL_ARGS VIDEO_EPISODES
STEP_EVAL_VARS := TASK CAMERAS IMAGE_SIZE MAX_STEPS EVAL_EVERY_EPISODES EVAL_SEED TEMPORAL_AGG EVAL_ARGS

CFG_RECORD := $(call stage_config,$D/config/record.txt,$(RECORD_VARS))
CFG_DEMOS  := $(call stage_config,$D/config/demos.txt,DEMOS)
CFG_TRAIN  := $(call stage_config,$R/config/train.txt,$(TRAIN_VARS))
CFG_EVAL   := $(call stage_config,$R/config/eval.txt,$(EVAL_VARS))
CFG_STEP_EVAL := $(if $(EVAL_EVERY),$(call stage_config,$R/config/step-eval.txt,$(STEP_EVAL_VARS)))

opt = $(if $2,$1 $2)
SIM_ARGS   := -t $(TASK) --cameras $(CAMERAS) --image-size $(IMAGE_SIZE) $(call opt,--max-steps,$(MAX_STEPS))
TRAIN_OPTS := --seed $(TRAIN_SEED) --threads $(THREADS) \
  --cameras $(CAMERAS) $(call opt,--hidden-dim,$(HIDDEN)) $(call opt,--dim-feedforward,$(FF)) \
  $(call opt,--enc-layers,$(ENC_LAYERS)) $(call opt,--dec-layers,$(DEC_LAYERS)) \
  $(call opt,--kl-weight,$(KL)) $(call opt,--lr,$(LR)) $(call opt,--batch-size,$(BATCH)) \
  $(call opt,--save-every,$(SAVE_EVERY)) $(call opt,--log-every,$(LOG_EVERY)) $(TRAIN_ARGS)
ROLLOUT_ARGS := $(SIM_ARGS) $(if $(TEMPORAL_AGG),--temporal-agg=$(TEMPORAL_AGG)) $(EVAL_ARGS)

# Intermediate checkpoints evaluated for success.png: every EVAL_EVERY steps before STEPS.
STEP_POINTS := $(if $(EVAL_EVERY),$(shell seq $(EVAL_EVERY) $(EVAL_EVERY) $$(($(STEPS) - 1))))
STEP_EVALS  := $(STEP_POINTS:%=$R/evals/step%.jsonl)
PLOTS := $R/loss.png $(if $(EVAL_EVERY),$R/success.png)

# ---------------------------------------------------------------- targets
.PHONY: all record stats train eval video plots report summary help
all: report
record: $D/episodes.list
stats: $D/stats.tar $D/stats.json
train: $R/ckpt.h5
eval: $R/eval.jsonl
video: $R/eval.mp4
plots: $(PLOTS)
report: $R/report.md $R/results.tsv

# ---------------------------------------------------------------- record
# Missing seeds are recorded JOBS at a time; a seed counts as recorded once its result line is
# there (written after its episode file). Changing the task, cameras or image size starts over;
# changing DEMOS records only the new seeds.
$D/episodes.list: $(CFG_RECORD) $(CFG_DEMOS)
	@mkdir -p $D/episodes
	@cmp -s $(CFG_RECORD) $D/episodes/record.txt || { rm -rf $D/episodes; mkdir -p $D/episodes; cp $(CFG_RECORD) $D/episodes/record.txt; }
	@echo "act_sim: recording $(DEMOS) scripted $(TASK) demonstrations in $D/episodes"
	@seeds=$$(seq $(RECORD_SEED) $$(($(RECORD_SEED) + $(DEMOS) - 1))); \
	for s in $$seeds; do [ -e $D/episodes/episode_$$s.json ] || echo $$s; done | \
	  OPENBLAS_NUM_THREADS=1 parallel -j $(JOBS) --halt now,fail=1 \
	  'rollout -q -p scripted -n 1 --seed {} -o $D/episodes $(SIM_ARGS) | grep -v "\"summary\"" > $D/episodes/episode_{}.tmp && mv $D/episodes/episode_{}.tmp $D/episodes/episode_{}.json'; \
	for s in $$seeds; do cat $D/episodes/episode_$$s.json; done > $D/record.jsonl; \
	rollout --summarize $D/record.jsonl >> $D/record.jsonl; \
	for s in $$seeds; do echo $D/episodes/episode_$$s.hdf5; done > $@.tmp && mv $@.tmp $@; \
	echo "act_sim: demonstrations: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $D/record.jsonl)"

# ---------------------------------------------------------------- stats
$D/stats.tar: $D/episodes.list
	@echo "act_sim: normalization statistics -> $@"
	@h5slice -q $$(cat $<) | normstats > $@.tmp && mv $@.tmp $@

$D/stats.json: $D/episodes.list
	@h5slice -q $$(cat $<) | normstats --json > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- train
# train.sh works in $R/train.work and resumes there (act-train --resume) when a run with the same
# inputs was interrupted; a finished run moves its outputs into $R and removes the work directory.
$R/ckpt.h5: $D/stats.tar $D/episodes.list $(CFG_TRAIN) $(PIPELINES)/train.sh
	@echo "act_sim: training ACT for $(STEPS) steps -> $@"
	@$(PIPELINES)/train.sh -o $R --stats $D/stats.tar --episodes $D/episodes.list --chunk $(CHUNK) \
	  --steps $(STEPS) $(call opt,--keep-every,$(EVAL_EVERY)) --ident $(CFG_TRAIN) -- $(TRAIN_OPTS)

# ckpt.h5 stands for all the training outputs (ckpt.best.h5, train.jsonl, train.time, ckpts/):
# they are written together and ckpt.h5 last.

# ---------------------------------------------------------------- evaluate
$R/eval.jsonl: $(if $(EVAL_POLICY_FILE),$R/ckpt.h5) $(CFG_EVAL)
	@echo "act_sim: evaluating $(EVAL_POLICY) on $(EVAL_EPISODES) episodes (seeds from $(EVAL_SEED), $(JOBS) jobs)"
	@$(PIPELINES)/evaluate.sh -o $@ -p $(EVAL_POLICY) -n $(EVAL_EPISODES) --seed $(EVAL_SEED) \
	  -j $(JOBS) --frames $(VIDEO_EPISODES) -- $(ROLLOUT_ARGS)
	@echo "act_sim: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $@)"

$R/evals/step%.jsonl: $R/ckpt.h5 $(CFG_STEP_EVAL)
	@mkdir -p $(@D)
	@echo "act_sim: evaluating the step-$* checkpoint on $(EVAL_EVERY_EPISODES) episodes"
	@$(PIPELINES)/evaluate.sh -o $@ -p $(if $(EVAL_POLICY_FILE),$R/ckpts/ckpt.step$*.h5,scripted) -n $(EVAL_EVERY_EPISODES) \
	  --seed $(EVAL_SEED) -j $(JOBS) -- $(ROLLOUT_ARGS)
	@rm -rf $@.d
	@echo "act_sim: step $*: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $@)"

$R/eval.mp4: $R/eval.jsonl
	@echo "act_sim: video of $(VIDEO_EPISODES) evaluation episodes -> $@"
	@cat $(foreach s,$(shell seq $(EVAL_SEED) $$(($(EVAL_SEED) + $(VIDEO_EPISODES) - 1))),$R/eval.jsonl.d/frames_$s.tar) | \
	  vidwrite -q -l -r 50 -o $@ -

# ---------------------------------------------------------------- plots
$R/loss.png: $R/ckpt.h5 $(PIPELINES)/loss.gp
	@echo "act_sim: plot -> $@"
	@awk -v fields=step,$(LOSS_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-train.tsv
	@awk -v fields=step,$(VAL_LOSS_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-val.tsv
	@awk -v fields=step,$(L1_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-l1.tsv
	@nonempty() { [ -s "$$1" ] && echo "$$1" || true; }; \
	gnuplot -e "train='$R/loss-train.tsv'; val='$$(nonempty $R/loss-val.tsv)'; l1='$$(nonempty $R/loss-l1.tsv)'; out='$@.tmp'; name='ACT $(TASK): loss'" $(PIPELINES)/loss.gp
	@mv $@.tmp $@

# step, success rate, interval, episodes: the intermediate checkpoints, then the final one.
$R/success.tsv: $(STEP_EVALS) $R/eval.jsonl
	@for f in $(STEP_EVALS); do s=$${f##*/step}; tail -n 1 $$f | sed "s/^{/{\"at_step\":$${s%.jsonl},/"; done > $@.tmp1
	@tail -n 1 $R/eval.jsonl | sed 's/^{/{"at_step":$(STEPS),/' >> $@.tmp1
	@awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=success $@.tmp1 > $@.tmp
	@rm $@.tmp1; mv $@.tmp $@

$R/success.png: $R/success.tsv $(PIPELINES)/success.gp
	@echo "act_sim: plot -> $@"
	@gnuplot -e "in='$<'; out='$@.tmp'; name='ACT $(TASK): success rate ($(EVAL_EVERY_EPISODES) episodes per point)'" $(PIPELINES)/success.gp
	@mv $@.tmp $@

# train.jsonl's field names (act-train --log)
LOSS_FIELD     ?= loss
VAL_LOSS_FIELD ?= val_loss
L1_FIELD       ?= l1

# ---------------------------------------------------------------- report
REPORT_INPUTS := $R/eval.jsonl $R/ckpt.h5 $D/episodes.list $(CFG_TRAIN) $(CFG_EVAL) \
  $(CFG_RECORD) $(CFG_DEMOS) $(PIPELINES)/report.sh
$R/report.md $R/results.tsv &: $(REPORT_INPUTS) $R/eval.mp4 $(PLOTS)
	@echo "act_sim: report -> $R/report.md"
	@LOSS_FIELD=$(LOSS_FIELD) VAL_LOSS_FIELD=$(VAL_LOSS_FIELD) $(PIPELINES)/report.sh $R $D

help:
	@sed -n '1,/^$$/{/^$$/d;s/^# \{0,1\}//;p}' $(lastword $(MAKEFILE_LIST))

summary: $R/report.md
	@awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $R/eval.jsonl
	@echo "video:  $R/eval.mp4"
	@echo "plots:  $(PLOTS)"
	@echo "report: $R/report.md"
