#!/usr/bin/env bats
# vidwrite.bats — frame streams to H.264 MP4 and GIF; checked with ffprobe (codec, pixel format,
# size, exact frame count); bad input leaves no output file.

bats_require_minimum_version 1.5.0

setup() {
  PYTHON=${PYTHON:-/usr/bin/python3}
  T=$BATS_TEST_TMPDIR
  MAKE_FRAMES="$PYTHON ${ILT_TESTS:-$BATS_TEST_DIRNAME}/make_frames.py"
}

# codec,width,height,pix_fmt,frames of the first video stream
probe() {
  ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=codec_name,width,height,pix_fmt,nb_read_frames -of csv=p=0 "$1"
}

# no file of that name and no temporary next to it
assert_no_output() {
  [ ! -e "$1" ]
  [ -z "$(ls -A "$(dirname "$1")" | grep "^$(basename "$1")\.tmp\." || true)" ]
}

@test "vidwrite: --help and --version" {
  run vidwrite --help
  [ "$status" -eq 0 ]
  [[ "$output" == "Usage: vidwrite -o OUT"* ]]
  run vidwrite --version
  [ "$status" -eq 0 ]
  [[ "$output" == "vidwrite (ilt) "* ]]
}

@test "vidwrite: two episodes to H.264 MP4, yuv420p, every frame there" {
  $MAKE_FRAMES "$T/s.tar" --episodes 2 --frames 13 --cams top:48:64
  run --separate-stderr vidwrite -q -o "$T/v.mp4" "$T/s.tar"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  run probe "$T/v.mp4"
  [ "$output" = "h264,64,48,yuv420p,26" ]
}

@test "vidwrite: reads stdin, --fps sets the frame rate" {
  $MAKE_FRAMES "$T/s.tar" --frames 10 --cams top:32:32
  vidwrite -q -o "$T/v.mp4" --fps 50 < "$T/s.tar"
  run ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$T/v.mp4"
  [ "$output" = "50/1" ]
}

@test "vidwrite: --crf changes the quality (lower crf, bigger file)" {
  $MAKE_FRAMES "$T/s.tar" --frames 8 --cams top:64:64
  vidwrite -q -o "$T/hi.mp4" --crf 5 "$T/s.tar"
  vidwrite -q -o "$T/lo.mp4" --crf 45 "$T/s.tar"
  [ "$(stat -c %s "$T/hi.mp4")" -gt "$(stat -c %s "$T/lo.mp4")" ]
}

@test "vidwrite: cameras tiled side by side, sorted by name; --cameras chooses and orders" {
  $MAKE_FRAMES "$T/s.tar" --frames 4 --cams wrist:48:32,top:48:64
  vidwrite -q -o "$T/all.mp4" "$T/s.tar"
  run probe "$T/all.mp4"
  [ "$output" = "h264,96,48,yuv420p,4" ]
  vidwrite -q -o "$T/one.mp4" --cameras wrist "$T/s.tar"
  run probe "$T/one.mp4"
  [ "$output" = "h264,32,48,yuv420p,4" ]
  # top (red ramp across x) on the left by default; wrist first with --cameras wrist,top.
  vidwrite -q -o "$T/swap.mp4" --cameras wrist,top --crf 0 "$T/s.tar"
  left_default=$(ffmpeg -v error -i "$T/all.mp4" -frames:v 1 -vf crop=32:48:0:0 -f rawvideo -pix_fmt rgb24 - | md5sum)
  left_swapped=$(ffmpeg -v error -i "$T/swap.mp4" -frames:v 1 -vf crop=32:48:0:0 -f rawvideo -pix_fmt rgb24 - | md5sum)
  [ "$left_default" != "$left_swapped" ]
}

@test "vidwrite: --label draws the camera name (the labelled frame differs only in its corner)" {
  $MAKE_FRAMES "$T/s.tar" --frames 2 --cams top:64:64
  vidwrite -q -o "$T/plain.mp4" --crf 0 "$T/s.tar"
  vidwrite -q -o "$T/label.mp4" --crf 0 --label "$T/s.tar"
  corner() { ffmpeg -v error -i "$1" -frames:v 1 -vf crop=24:10:0:0 -f rawvideo -pix_fmt rgb24 - | md5sum; }
  rest() { ffmpeg -v error -i "$1" -frames:v 1 -vf crop=64:32:0:32 -f rawvideo -pix_fmt rgb24 - | md5sum; }
  [ "$(corner "$T/plain.mp4")" != "$(corner "$T/label.mp4")" ]
  [ "$(rest "$T/plain.mp4")" = "$(rest "$T/label.mp4")" ]
}

@test "vidwrite: odd sizes are padded to even for yuv420p" {
  $MAKE_FRAMES "$T/s.tar" --frames 5 --cams top:33:47
  vidwrite -q -o "$T/v.mp4" "$T/s.tar"
  run probe "$T/v.mp4"
  [ "$output" = "h264,48,34,yuv420p,5" ]
}

@test "vidwrite: float images in [0,1] and images.<cam> field names are accepted" {
  $MAKE_FRAMES "$T/s.tar" --frames 3 --cams top:16:16 --float --prefix images.
  vidwrite -q -o "$T/v.mp4" "$T/s.tar"
  run probe "$T/v.mp4"
  [ "$output" = "h264,16,16,yuv420p,3" ]
}

@test "vidwrite: .gif output is an animated GIF with every frame" {
  $MAKE_FRAMES "$T/s.tar" --frames 7 --cams top:33:47
  vidwrite -q -o "$T/v.gif" "$T/s.tar"
  run ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$T/v.gif"
  [ "$output" = "gif,47,33,7" ]
}

@test "vidwrite: an existing output is replaced only on success" {
  $MAKE_FRAMES "$T/s.tar" --frames 3 --cams top:16:16
  $MAKE_FRAMES "$T/bad.tar" --frames 3 --cams top:16:16 --bad-size 0:2:top:16:18
  echo old > "$T/v.mp4"
  run vidwrite -q -o "$T/v.mp4" "$T/bad.tar"
  [ "$status" -eq 1 ]
  [ "$(cat "$T/v.mp4")" = old ]
  vidwrite -q -o "$T/v.mp4" "$T/s.tar"
  run probe "$T/v.mp4"
  [ "$output" = "h264,16,16,yuv420p,3" ]
}

@test "vidwrite: a frame of another size is an error naming episode, frame and camera; no output" {
  $MAKE_FRAMES "$T/bad.tar" --episodes 2 --frames 5 --cams top:48:64,wrist:48:32 --bad-size 1:3:wrist:50:32
  run --separate-stderr vidwrite -q -o "$T/v.mp4" "$T/bad.tar"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"frame 3 of episode 1"* ]]
  [[ "$stderr" == *"camera wrist image is 50x32"* ]]
  [[ "$stderr" == *"48x32"* ]]
  assert_no_output "$T/v.mp4"
}

@test "vidwrite: without episode_index the sample key names the frame" {
  $MAKE_FRAMES "$T/bad.tar" --frames 4 --cams top:8:8 --bad-size 0:2:top:8:10 --no-index
  run --separate-stderr vidwrite -q -o "$T/v.gif" "$T/bad.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"frame 2 of episode 0 (sample ep000000_t000002)"* ]]
  assert_no_output "$T/v.gif"
}

@test "vidwrite: a truncated stream is an error; no output" {
  $MAKE_FRAMES "$T/tr.tar" --frames 10 --cams top:48:64 --truncate 30000
  run --separate-stderr vidwrite -q -o "$T/v.mp4" "$T/tr.tar"
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [[ "$stderr" == *"vidwrite: "*"tr.tar"* ]]
  assert_no_output "$T/v.mp4"
}

@test "vidwrite: a stream without images, or an unknown camera, is an error; no output" {
  $MAKE_FRAMES "$T/s.tar" --frames 2 --cams top:8:8
  run --separate-stderr vidwrite -q -o "$T/v.mp4" --cameras side "$T/s.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"no image for camera side (cameras there: top)"* ]]
  assert_no_output "$T/v.mp4"
  $MAKE_FRAMES "$T/none.tar" --frames 2 --cams top:8:8 --prefix state.
  run --separate-stderr vidwrite -q -o "$T/v.mp4" "$T/none.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"has no camera images"* ]]
  assert_no_output "$T/v.mp4"
}

@test "vidwrite: usage errors exit 2 with nothing on stdout" {
  $MAKE_FRAMES "$T/s.tar" --frames 2 --cams top:8:8
  run --separate-stderr vidwrite "$T/s.tar"
  [ "$status" -eq 2 ]
  [ -z "$output" ]
  run --separate-stderr vidwrite -o "$T/v.avi" "$T/s.tar"
  [ "$status" -eq 2 ]
  [[ "$stderr" == *"unknown video type"* ]]
  run vidwrite -o "$T/v.mp4" --crf 60 "$T/s.tar"
  [ "$status" -eq 2 ]
  run vidwrite -o "$T/v.mp4" --fps 0 "$T/s.tar"
  [ "$status" -eq 2 ]
  run vidwrite -o - "$T/s.tar"
  [ "$status" -eq 2 ]
  run vidwrite --bogus
  [ "$status" -eq 2 ]
  assert_no_output "$T/v.mp4"
}

@test "vidwrite: h5slice episode_0.hdf5 -f observation.images.top | vidwrite (the man page example)" {
  "$PYTHON" "${ILT_TESTS:-$BATS_TEST_DIRNAME}/make_episodes.py" act "$T/eps" --episodes 1 --frames 12 --cams top:24:32
  h5slice -q "$T/eps/episode_0.hdf5" -f observation.images.top | vidwrite -q -o "$T/ep0.mp4"
  run probe "$T/ep0.mp4"
  [ "$output" = "h264,32,24,yuv420p,12" ]
}

@test "vidwrite: rollout --frames - | vidwrite (the man page example)" {
  rollout -q -t transfer_cube -p scripted -n 2 --max-steps 15 --cameras top,angle --image-size 48x64 \
    --frames - 2>"$T/results.jsonl" | vidwrite -q --label -o "$T/eval.mp4" --fps 50
  run probe "$T/eval.mp4"
  [ "$output" = "h264,128,48,yuv420p,30" ]
  grep -q '"summary":true' "$T/results.jsonl"
}

@test "vidwrite: --captions writes seed, stage and success along the bottom; needs rollout's fields" {
  rollout -q -t transfer_cube -p scripted -n 1 --seed 4 --max-steps 3 --image-size 48x64 --frames "$T/f.tar" >/dev/null
  vidwrite -q -o "$T/label.mp4" --crf 0 --label "$T/f.tar"
  vidwrite -q -o "$T/cap.mp4" --crf 0 --captions "$T/f.tar"
  bottom() { ffmpeg -v error -i "$1" -frames:v 1 -vf crop=64:10:0:38 -f rawvideo -pix_fmt rgb24 - | md5sum; }
  top() { ffmpeg -v error -i "$1" -frames:v 1 -vf crop=64:30:0:0 -f rawvideo -pix_fmt rgb24 - | md5sum; }
  [ "$(bottom "$T/label.mp4")" != "$(bottom "$T/cap.mp4")" ]
  [ "$(top "$T/label.mp4")" = "$(top "$T/cap.mp4")" ]
  $MAKE_FRAMES "$T/s.tar" --frames 2 --cams top:32:32
  mkdir "$T/x" && tar -C "$T/x" -xf "$T/s.tar" && (cd "$T/x" && tar -cf ../images.tar *.observation.images.top.npy)
  run vidwrite -q --captions -o "$T/x.mp4" "$T/images.tar"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--captions: no episode_index, reward_stage or success field"* ]]
  assert_no_output "$T/x.mp4"
}

@test "vidwrite: .png writes a still of the last frame" {
  rollout -q -t transfer_cube -p scripted -n 1 --max-steps 3 --image-size 48x64 --frames "$T/f.tar" >/dev/null
  vidwrite -q -o "$T/still.png" "$T/f.tar"
  [ "$(head -c 8 "$T/still.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
  [ "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$T/still.png")" = "64,48" ]
  # the last frame's pixels, exactly (PNG is lossless)
  ffmpeg -v error -i "$T/still.png" -f rawvideo -pix_fmt rgb24 - > "$T/png.rgb"
  $PYTHON ${ILT_TESTS:-$BATS_TEST_DIRNAME}/read_stream.py dump "$T/f.tar" >/dev/null
  $PYTHON -c "
import sys, tarfile, io, numpy as np
t = tarfile.open(sys.argv[1])
last = [m for m in t.getmembers() if m.name.endswith('observation.images.top.npy')][-1]
a = np.load(io.BytesIO(t.extractfile(last).read()))
assert a.tobytes() == open(sys.argv[2], 'rb').read()" "$T/f.tar" "$T/png.rgb"
}

@test "vidwrite: killed while waiting for input, it leaves no temporary file" {
  $MAKE_FRAMES "$T/s.tar" --frames 40 --cams top:64:64
  mkfifo "$T/fifo"
  mkdir "$T/out"
  vidwrite -q -o "$T/out/v.mp4" "$T/fifo" &
  pid=$!
  # 200 kB (the reader takes 128 kB blocks): the first frames open the writer and its temporary,
  # then the pipe stays open with nothing more in it
  { head -c 200000 "$T/s.tar"; sleep 5; } > "$T/fifo" &
  feeder=$!
  for i in $(seq 40); do [ -n "$(ls -A "$T/out")" ] && break; sleep 0.1; done
  [ -n "$(ls -A "$T/out")" ]
  kill -TERM $pid
  st=0
  wait $pid || st=$?
  [ "$st" -eq 143 ]
  kill $feeder 2>/dev/null || true
  [ -z "$(ls -A "$T/out")" ]
}

@test "vidwrite: killed with SIGKILL it leaves only its temporary, which the next run removes" {
  $MAKE_FRAMES "$T/s.tar" --frames 40 --cams top:64:64
  mkfifo "$T/fifo"
  mkdir "$T/out"
  vidwrite -q -o "$T/out/v.mp4" "$T/fifo" &
  pid=$!
  { head -c 200000 "$T/s.tar"; sleep 5; } > "$T/fifo" &
  feeder=$!
  for i in $(seq 40); do [ -n "$(ls -A "$T/out")" ] && break; sleep 0.1; done
  kill -9 $pid
  wait $pid || true
  kill $feeder 2>/dev/null || true
  [ "$(ls -A "$T/out")" = "v.mp4.tmp.$pid" ]
  vidwrite -q -o "$T/out/v.mp4" "$T/s.tar"
  [ "$(ls -A "$T/out")" = "v.mp4" ]
}
