#!/usr/bin/python3
"""lift_grasp.py — how lift episodes grasp, from robomimic-layout files (`rollout --layout
robomimic -o FILE.hdf5`, a policy's evaluation or the scripted expert's demonstrations): where the
hand is when the gripper first closes, whether it opens again, how fast it rises, and what became of
the cube. One line per episode, then the failures counted by kind:

  no close    the gripper command never turns positive
  re-opens    it closes, then the command turns negative again before the cube is up
  slips       it closes and stays closed, but the cube never rises 4 cm

Columns: file and demo, success (reward ever 1), the cube's start x y, the hand's lowest distance
to the cube's centre, at the first closing the hand minus the cube (x y z, mm) and the step,
closings (negative -> positive switches of the gripper command), the cube's largest rise (mm),
the mean z action over the steps after the first closing (the expert lifts at 0.35), and the
cube's yaw against the fingers' at the start and at the first closing (degrees, reduced to
[-45, 45]: the cube looks the same every quarter turn; the expert closes within 3).
The last lines count the failures by kind and give the hand's x-y distance from the cube's
centre at the first closing over the episodes that close (median, 90th percentile, largest).

Run: /usr/bin/python3 bench/lift_grasp.py FILE.hdf5 [FILE.hdf5 ...]
"""
import sys

import h5py
import numpy as np


def yaw_of_axis(q, axis):
    """Yaw in the world of a body axis (0: x, 1: y) for quaternions x y z w (robomimic's order)."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    if axis == 0:
        return np.arctan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z))
    return np.arctan2(1 - 2 * (x * x + z * z), 2 * (x * y - w * z))


def episode(name, d):
    obs = d["obs"]
    act = d["actions"][:]
    cube = obs["object"][:, :3]
    hand = obs["robot0_eef_pos"][:]
    success = bool((d["rewards"][:] > 0).any())
    grip = act[:, -1] > 0
    closings = int(np.count_nonzero(np.diff(grip.astype(int)) == 1) + (1 if grip[0] else 0))
    rise = float(cube[:, 2].max() - cube[0, 2])
    dist = np.linalg.norm(hand - cube, axis=1)
    rel = np.degrees(yaw_of_axis(obs["object"][:, 3:7], 0) - yaw_of_axis(obs["robot0_eef_quat"][:], 1))
    rel = (rel + 45) % 90 - 45
    row = {"name": name, "success": success, "cube": cube[0, :2], "min_dist": float(dist.min()),
           "closings": closings, "rise": rise, "steps": len(act), "yaw0": float(rel[0])}
    if grip.any():
        t = int(np.argmax(grip))
        row["close_step"] = t
        row["close_offset"] = (hand[t] - cube[t]) * 1000
        row["lift_z"] = float(act[t:, 2].mean())
        row["close_yaw"] = float(rel[t])
        row["kind"] = None if success else ("slips" if grip[t:].all() else "re-opens")
    else:
        row["kind"] = None if success else "no close"
    return row


def main(paths):
    rows = []
    for path in paths:
        with h5py.File(path, "r") as f:
            for key in sorted(f["data"], key=lambda k: int(k.split("_")[-1])):
                rows.append(episode(f"{path}:{key}", f["data"][key]))
    print("episode success cube_x cube_y min_dist_mm close_dx close_dy close_dz close_step closings rise_mm lift_z steps yaw0 close_yaw")
    for r in rows:
        close = ("%6.1f %6.1f %6.1f %4d" % (*r["close_offset"], r["close_step"])) if "close_step" in r else "     -      -      -    -"
        lift = "%6.3f" % r["lift_z"] if "lift_z" in r else "     -"
        cyaw = "%6.1f" % r["close_yaw"] if "close_yaw" in r else "     -"
        print("%s %d %6.3f %6.3f %5.1f %s %2d %5.1f %s %3d %6.1f %s" % (r["name"], r["success"], r["cube"][0], r["cube"][1],
                                                                    r["min_dist"] * 1000, close, r["closings"],
                                                                    r["rise"] * 1000, lift, r["steps"], r["yaw0"], cyaw))
    fails = [r for r in rows if not r["success"]]
    kinds = {k: sum(r["kind"] == k for r in fails) for k in ("no close", "re-opens", "slips")}
    print("episodes %d, successes %d, failures %d: %s" % (len(rows), len(rows) - len(fails), len(fails),
                                                         ", ".join(f"{k} {v}" for k, v in kinds.items())))
    lateral = np.array([np.hypot(*r["close_offset"][:2]) for r in rows if "close_step" in r])
    if len(lateral):
        print("hand's x-y distance from the cube's centre at the first closing (%d episodes), mm: "
              "median %.1f, 90th percentile %.1f, largest %.1f" % (len(lateral), np.median(lateral),
                                                                   np.percentile(lateral, 90), lateral.max()))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 else 2)
    main(sys.argv[1:])
