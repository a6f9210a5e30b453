# pipelines/sim_obs.mk — the observation of dp_sim.mk and ibc_sim.mk: encoder, cameras, the
# low-dimensional keys and their normaliser, and the data lift with images needs. Included after
# TASK; every variable can be given on the command line.
# The observation: ENCODER lowdim uses OBS_KEYS alone; hybrid adds the CAMERAS.
ENCODER       ?= lowdim
# lift with images: both cameras, the robot's state without the object's pose, and the scripted
# expert at EXPERT_GAIN (0.3 unless the including pipeline sets it), whose slower approach shows
# the cube's place in more of the images (docs/results.md, Diffusion Policy: lift with images,
# expert at gain 0.3)
LIFT_IMAGES   := $(and $(filter lift%,$(TASK)),$(filter-out lowdim,$(ENCODER)))
CAMERAS       ?= $(if $(filter lift%,$(TASK)),$(if $(LIFT_IMAGES),agentview$(comma)robot0_eye_in_hand,agentview),top)
EXPERT_GAIN   ?= 0.3
EXPERT_ARGS   ?= $(if $(LIFT_IMAGES),gain=$(EXPERT_GAIN))
IMAGE_SIZE    ?= 84x84
MAX_STEPS     ?=
OBS_KEYS      ?= $(if $(filter lift%,$(TASK)),$(if $(LIFT_IMAGES),,object) robot0_eef_pos robot0_eef_quat robot0_gripper_qpos)
# The low-dim normaliser (the trainer's --lowdim-norm, empty: limits, quaternions as they are)
# and its range_eps: in lift's scripted demonstrations the cube's tilt spans ~1e-3, which limits
# would magnify ~2000 times (dp-train(1)); 0.01 only shifts it
LOWDIM_NORM   ?=
LOWDIM_RANGE_EPS ?= $(if $(filter lift%,$(TASK)),0.01)
# Recording in robomimic's layout (lift): each demonstration ends at its first success, or with
# RECORD_STEPS lasts that many steps, the expert lifting on after the success (more frames of the
# lift than the three before it counts as one; DP-T with images fell from 74-82% to 30% with 70:
# docs/results.md).
RECORD_STEPS  ?=
RECORD_ARGS   := $(if $(filter robomimic,$(LAYOUT)),$(if $(RECORD_STEPS),--max-steps $(RECORD_STEPS),--stop-on-success))
