/* fuzz_episode.c — fuzz harness: the HDF5 episode reader (lib/io/episode.c), ACT and robomimic
 * layouts detected from the file, on an arbitrary file: every episode (at most 8) is opened and
 * its first 64 frames read, and a robomimic file's mask/train applied; nothing of the file may
 * stay open afterwards. */
#include <hdf5.h>

#include "fuzz_input.h"
#include "io/episode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    episode_file *f = episode_file_open(fuzz_input_path(data, size), EPISODE_LAYOUT_AUTO);
    if (!f) return 0;
    if (episode_file_layout(f) == EPISODE_LAYOUT_ROBOMIMIC) episode_file_apply_mask(f, "train");
    stream_sample s;
    stream_sample_init(&s);
    for (size_t i = 0; i < episode_file_count(f) && i < 8; i++) {
        episode_reader *r = episode_reader_open(f, i, (int64_t)i, NULL);
        if (!r) continue;
        for (int64_t t = 0; t < episode_reader_length(r) && t < 64; t++)
            if (episode_reader_frame(r, t, &s) < 0) break;
        episode_reader_close(r);
    }
    stream_sample_free(&s);
    episode_file_close(f);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort(); /* an HDF5 object left open */
    return 0;
}
