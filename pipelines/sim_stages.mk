# pipelines/sim_stages.mk — the stage rules every simulation pipeline shares (record -> slice ->
# stats -> chunk -> train -> evaluate -> video, plots and report), included by act_sim.mk and
# dp_sim.mk after they set their variables. A pipeline defines:
#   PIPELINE       its name, for messages (act_sim)        POLICY_LABEL  for titles (ACT)
#   PIPELINE_FILE  its makefile (help)                     TRAINER       the trainer tool
#   CHUNK_ARGS     chunkify's options                      SLICE_ARGS    h5slice's options
#   TRAIN_OPTS     the trainer's options                   TRAIN_VARS    the variables training depends on
#   LAYOUT         act (one file per episode) or robomimic (one file)   RECORD_ARGS  rollout's, recording
#   LOSS_FIELD, VAL_LOSS_FIELD, L1_FIELD  train.jsonl's field names for the plots (L1 may be empty)
# and the variables of act_sim.mk's header (TASK, DEMOS, ..., RUN_DIR, DATA_DIR), and PIPELINES
# (the folder of these files).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

# The tools: this checkout's build/bin when it has one, else whatever is on PATH.
ILT_BIN ?= $(abspath $(PIPELINES)/../build/bin)
export PATH := $(ILT_BIN):$(PATH)
NPROC := $(shell nproc 2>/dev/null || echo 1)

# ---------------------------------------------------------------- stage configurations
# $(call stage_config,FILE,VARIABLES): write VAR=value lines to FILE when they differ from its
# content (at parse time, so `make -q` sees the same dates as a real run); expands to FILE.
stage_config = $(if $(filter help,$(MAKECMDGOALS)),$1,$(shell mkdir -p $(dir $1) && \
  printf '%s\n' $(foreach v,$2,'$v=$($v)') > $1.$$$$ && \
  { if cmp -s $1.$$$$ $1; then rm -f $1.$$$$; else mv -f $1.$$$$ $1; fi; } && echo $1))

# The scripted expert's settings when recording: KEY=VALUE words, each passed as rollout -p
# scripted --policy-arg (rollout(1)), e.g. EXPERT_ARGS=gain=0.3 for lift's slower approach.
EXPERT_ARGS ?=
RECORD_VARS := TASK RECORD_SEED CAMERAS IMAGE_SIZE MAX_STEPS RECORD_ARGS EXPERT_ARGS
EVAL_VARS   := TASK CAMERAS IMAGE_SIZE MAX_STEPS EVAL_EPISODES EVAL_SEED EVAL_CKPT EVAL_POLICY TEMPORAL_AGG \
               EVAL_ARGS VIDEO_EPISODES VIDEO_SIZE
STEP_EVAL_VARS := TASK CAMERAS IMAGE_SIZE MAX_STEPS EVAL_EVERY_EPISODES EVAL_SEED TEMPORAL_AGG EVAL_ARGS

CFG_RECORD := $(call stage_config,$D/config/record.txt,$(RECORD_VARS))
CFG_DEMOS  := $(call stage_config,$D/config/demos.txt,DEMOS)
CFG_TRAIN  := $(call stage_config,$R/config/train.txt,$(TRAIN_VARS))
CFG_EVAL   := $(call stage_config,$R/config/eval.txt,$(EVAL_VARS))
CFG_STEP_EVAL := $(if $(EVAL_EVERY),$(call stage_config,$R/config/step-eval.txt,$(STEP_EVAL_VARS)))

opt = $(if $2,$1 $2)
RECORD_EXPERT := $(EXPERT_ARGS:%=--policy-arg %)
# The task's control rate (lift 20 Hz, the bimanual tasks 50 Hz): recorded in the checkpoint
# (--control-hz) and the videos' frame rate.
CONTROL_HZ ?= $(if $(filter lift%,$(TASK)),20,50)
VIDEO_FPS ?= $(CONTROL_HZ)
SIM_ARGS   := -t $(TASK) --cameras $(CAMERAS) --image-size $(IMAGE_SIZE) $(call opt,--max-steps,$(MAX_STEPS))
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
ifeq ($(LAYOUT),robomimic)
# robomimic layout: one file of DEMOS demos recorded by one rollout (all or nothing).
$D/episodes.list: $(CFG_RECORD) $(CFG_DEMOS)
	@mkdir -p $D/episodes
	@echo "$(PIPELINE): recording $(DEMOS) scripted $(TASK) demonstrations in $D/episodes/demos.hdf5"
	@rm -f $@ $D/episodes/demos.hdf5 $D/record.jsonl
	@OPENBLAS_NUM_THREADS=1 rollout -q -p scripted -n $(DEMOS) --seed $(RECORD_SEED) --layout robomimic \
	  -o $D/episodes/demos.hdf5 $(SIM_ARGS) $(RECORD_ARGS) $(RECORD_EXPERT) > $D/record.jsonl.tmp || \
	  { rm -f $D/record.jsonl.tmp; exit 1; }
	@mv $D/record.jsonl.tmp $D/record.jsonl
	@echo $D/episodes/demos.hdf5 > $@.tmp && mv $@.tmp $@
	@echo "$(PIPELINE): demonstrations: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $D/record.jsonl)"
else
$D/episodes.list: $(CFG_RECORD) $(CFG_DEMOS)
	@mkdir -p $D/episodes
	@cmp -s $(CFG_RECORD) $D/episodes/record.txt || { rm -rf $D/episodes; mkdir -p $D/episodes; cp $(CFG_RECORD) $D/episodes/record.txt; }
	@echo "$(PIPELINE): recording $(DEMOS) scripted $(TASK) demonstrations in $D/episodes"
	@seeds=$$(seq $(RECORD_SEED) $$(($(RECORD_SEED) + $(DEMOS) - 1))); \
	for s in $$seeds; do [ -e $D/episodes/episode_$$s.json ] || echo $$s; done | \
	  OPENBLAS_NUM_THREADS=1 parallel -j $(JOBS) --halt now,fail=1 \
	  'rollout -q -p scripted -n 1 --seed {} -o $D/episodes $(SIM_ARGS) $(RECORD_ARGS) $(RECORD_EXPERT) | grep -v "\"summary\"" > $D/episodes/episode_{}.tmp && mv $D/episodes/episode_{}.tmp $D/episodes/episode_{}.json'; \
	for s in $$seeds; do cat $D/episodes/episode_$$s.json; done > $D/record.jsonl; \
	rollout --summarize $D/record.jsonl >> $D/record.jsonl; \
	for s in $$seeds; do echo $D/episodes/episode_$$s.hdf5; done > $@.tmp && mv $@.tmp $@; \
	echo "$(PIPELINE): demonstrations: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $D/record.jsonl)"
endif

# ---------------------------------------------------------------- stats
$D/stats.tar: $D/episodes.list
	@echo "$(PIPELINE): normalization statistics -> $@"
	@h5slice -q $(SLICE_ARGS) $$(cat $<) | normstats > $@.tmp && mv $@.tmp $@

$D/stats.json: $D/episodes.list
	@h5slice -q $(SLICE_ARGS) $$(cat $<) | normstats --json > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- train
# train.sh works in $R/train.work and resumes there (act-train --resume) when a run with the same
# inputs was interrupted; a finished run moves its outputs into $R and removes the work directory.
$R/ckpt.h5: $D/stats.tar $D/episodes.list $(CFG_TRAIN) $(PIPELINES)/train.sh
	@echo "$(PIPELINE): training $(POLICY_LABEL) for $(STEPS) steps -> $@"
	@PIPELINE=$(PIPELINE) $(PIPELINES)/train.sh -o $R --stats $D/stats.tar --episodes $D/episodes.list \
	  --trainer $(TRAINER) --slice "$(SLICE_ARGS)" --chunkify "$(CHUNK_ARGS)" \
	  --steps $(STEPS) $(call opt,--keep-every,$(EVAL_EVERY)) --ident $(CFG_TRAIN) -- --control-hz $(CONTROL_HZ) $(TRAIN_OPTS)

# ckpt.h5 stands for all the training outputs (ckpt.best.h5, train.jsonl, train.time, ckpts/):
# they are written together and ckpt.h5 last.

# ---------------------------------------------------------------- evaluate
# Evaluation across machines: EVAL_SSHLOGIN (GNU parallel's --sshlogin: "host1,host2", ":" is
# this machine) or EVAL_SSHLOGINFILE (one login a line), JOBS rollouts on each; every machine needs
# this checkout built at the same path and the run directory shared at the same path
# (evaluate.sh). Not part of the evaluation's configuration: where an episode ran does not change it.
EVAL_SSHLOGIN ?=
EVAL_SSHLOGINFILE ?=
EVAL_HOSTS := $(call opt,-S,$(EVAL_SSHLOGIN)) $(call opt,--sshloginfile,$(EVAL_SSHLOGINFILE))

$R/eval.jsonl: $(if $(EVAL_POLICY_FILE),$R/ckpt.h5) $(CFG_EVAL)
	@echo "$(PIPELINE): evaluating $(EVAL_POLICY) on $(EVAL_EPISODES) episodes (seeds from $(EVAL_SEED), $(JOBS) jobs)"
	@$(PIPELINES)/evaluate.sh -o $@ -p $(EVAL_POLICY) -n $(EVAL_EPISODES) --seed $(EVAL_SEED) \
	  -j $(JOBS) --frames $(VIDEO_EPISODES) $(call opt,--frame-size,$(VIDEO_SIZE)) --stills $(EVAL_HOSTS) -- $(ROLLOUT_ARGS)
	@echo "$(PIPELINE): $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $@)"

$R/evals/step%.jsonl: $R/ckpt.h5 $(CFG_STEP_EVAL)
	@mkdir -p $(@D)
	@echo "$(PIPELINE): evaluating the step-$* checkpoint on $(EVAL_EVERY_EPISODES) episodes"
	@$(PIPELINES)/evaluate.sh -o $@ -p $(if $(EVAL_POLICY_FILE),$R/ckpts/ckpt.step$*.h5,scripted) -n $(EVAL_EVERY_EPISODES) \
	  --seed $(EVAL_SEED) -j $(JOBS) $(EVAL_HOSTS) -- $(ROLLOUT_ARGS)
	@rm -rf $@.d
	@echo "$(PIPELINE): step $*: $$(awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $@)"

$R/eval.mp4: $R/eval.jsonl
	@echo "$(PIPELINE): video of $(VIDEO_EPISODES) evaluation episodes -> $@"
	@cat $(foreach s,$(shell seq $(EVAL_SEED) $$(($(EVAL_SEED) + $(VIDEO_EPISODES) - 1))),$R/eval.jsonl.d/frames_$s.tar) | \
	  vidwrite -q --captions -r $(VIDEO_FPS) -o $@ -

# One still of an evaluation episode's final state per outcome (the first success and the first
# failure in seed order), for the report; stills.tsv lists outcome, seed and file.
$R/stills.tsv: $R/eval.jsonl
	@rm -f $R/still_*.png
	@for outcome in success failure; do \
	  want=$$([ $$outcome = success ] && echo true || echo false); \
	  seed=$$(awk -v fields=seed,success -f $(PIPELINES)/jsonl.awk $< | awk -v w=$$want '$$2 == w { print $$1; exit }'); \
	  [ -n "$$seed" ] || continue; \
	  vidwrite -q --captions -o $R/still_$$outcome.png $R/eval.jsonl.d/final_$$seed.tar; \
	  printf '%s\t%s\tstill_%s.png\n' $$outcome $$seed $$outcome; \
	done > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- plots
$R/loss.png: $R/ckpt.h5 $(PIPELINES)/loss.gp
	@echo "$(PIPELINE): plot -> $@"
	@awk -v fields=step,$(LOSS_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-train.tsv
	@awk -v fields=step,$(VAL_LOSS_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-val.tsv
	@awk -v fields=step,$(L1_FIELD) -f $(PIPELINES)/jsonl.awk $R/train.jsonl > $R/loss-l1.tsv
	@nonempty() { [ -s "$$1" ] && echo "$$1" || true; }; \
	gnuplot -e "train='$R/loss-train.tsv'; val='$$(nonempty $R/loss-val.tsv)'; l1='$$(nonempty $R/loss-l1.tsv)'; out='$@.tmp'; name='$(POLICY_LABEL) $(TASK): loss'" $(PIPELINES)/loss.gp
	@mv $@.tmp $@

# step, success rate, interval, episodes: the intermediate checkpoints, then the final one.
$R/success.tsv: $(STEP_EVALS) $R/eval.jsonl
	@for f in $(STEP_EVALS); do s=$${f##*/step}; tail -n 1 $$f | sed "s/^{/{\"at_step\":$${s%.jsonl},/"; done > $@.tmp1
	@tail -n 1 $R/eval.jsonl | sed 's/^{/{"at_step":$(STEPS),/' >> $@.tmp1
	@awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=success $@.tmp1 > $@.tmp
	@rm $@.tmp1; mv $@.tmp $@

$R/success.png: $R/success.tsv $(PIPELINES)/success.gp
	@echo "$(PIPELINE): plot -> $@"
	@gnuplot -e "in='$<'; out='$@.tmp'; name='$(POLICY_LABEL) $(TASK): success rate ($(EVAL_EVERY_EPISODES) episodes per point)'" $(PIPELINES)/success.gp
	@mv $@.tmp $@


# ---------------------------------------------------------------- report
REPORT_INPUTS := $R/eval.jsonl $R/ckpt.h5 $D/episodes.list $(CFG_TRAIN) $(CFG_EVAL) \
  $(CFG_RECORD) $(CFG_DEMOS) $(PIPELINES)/report.sh
$R/report.md $R/results.tsv &: $(REPORT_INPUTS) $R/eval.mp4 $R/stills.tsv $(PLOTS)
	@echo "$(PIPELINE): report -> $R/report.md"
	@POLICY_LABEL='$(POLICY_LABEL)' PIPELINE=$(PIPELINE) LOSS_FIELD=$(LOSS_FIELD) VAL_LOSS_FIELD=$(VAL_LOSS_FIELD) \
	  $(PIPELINES)/report.sh $R $D

help:
	@sed -n '1,/^$$/{/^$$/d;s/^# \{0,1\}//;p}' $(PIPELINE_FILE)

summary: $R/report.md
	@awk -f $(PIPELINES)/jsonl.awk -f $(PIPELINES)/summary.awk -v mode=line $R/eval.jsonl
	@echo "video:  $R/eval.mp4"
	@echo "plots:  $(PLOTS)"
	@echo "report: $R/report.md"
