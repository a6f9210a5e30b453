/* frames.c — the frame samples of frames.h. */
#include "io/frames.h"

#include <stdio.h>

#include "util/error.h"

static const char *const field_names[] = {"episode_index", "frame_index", "reward_stage", "max_reward", "success"};

static int64_t *field(frame_status_t *f, int i)
{
    int64_t *fields[] = {&f->episode, &f->frame, &f->stage, &f->max_reward, &f->success};
    return fields[i];
}

int frame_sample_begin(stream_sample *s, const frame_status_t *f)
{
    frame_status_t copy = *f;
    if (stream_sample_reset(s, "ep%06lld_t%06lld", (long long)f->episode, (long long)f->frame) < 0) return -1;
    for (int i = 0; i < 5; i++)
        if (stream_sample_add_i64(s, field_names[i], *field(&copy, i)) < 0) return -1;
    return 0;
}

void frame_sample_status(const stream_sample *s, frame_status_t *f)
{
    f->present = 0;
    for (int i = 0; i < 5; i++)
        if (stream_sample_get_i64(s, field_names[i], field(f, i)) == 0) f->present |= 1u << i;
    error_clear();
}

/* snprintf that never runs past size, whatever it returns */
static size_t append(char *text, size_t size, size_t n, const char *fmt, long long a, long long b)
{
    if (n >= size) return n;
    int k = snprintf(text + n, size - n, fmt, a, b);
    return k < 0 ? n : n + (size_t)k >= size ? size - 1 : n + (size_t)k;
}

size_t frame_caption(const frame_status_t *f, char *text, size_t size)
{
    size_t n = 0;
    if (size) text[0] = 0;
    if (f->present & FRAME_HAS_EPISODE) n = append(text, size, n, "seed %lld", (long long)f->episode, 0);
    if (f->present & FRAME_HAS_STAGE) {
        n = append(text, size, n, n ? "  stage %lld" : "stage %lld", (long long)f->stage, 0);
        if (f->present & FRAME_HAS_MAX_REWARD) n = append(text, size, n, "/%lld", (long long)f->max_reward, 0);
    }
    if ((f->present & FRAME_HAS_SUCCESS) && f->success) n = append(text, size, n, n ? "  success" : "success", 0, 0);
    return n;
}
