/* episode.c — read ACT/ALOHA and robomimic HDF5 episodes frame by frame as stream samples. */
#include "io/episode.h"
#include "io/hdf5_util.h"
#include "io/image_resize.h"
#include "util/error.h"
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A block of frames read at once is at most this large (and at least one HDF5 chunk). */
#define BLOCK_BYTES (4 << 20)

const char *episode_layout_name(episode_layout layout)
{
    return layout == EPISODE_LAYOUT_ACT ? "act" : layout == EPISODE_LAYOUT_ROBOMIMIC ? "robomimic" : "auto";
}

int episode_layout_parse(const char *text, episode_layout *layout)
{
    if (strcmp(text, "act") == 0 || strcmp(text, "aloha") == 0) *layout = EPISODE_LAYOUT_ACT;
    else if (strcmp(text, "robomimic") == 0) *layout = EPISODE_LAYOUT_ROBOMIMIC;
    else if (strcmp(text, "auto") == 0) *layout = EPISODE_LAYOUT_AUTO;
    else return error_set("unknown layout '%s' (act, robomimic or auto)", text);
    return 0;
}

int64_t episode_number_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *ext = strrchr(base, '.'); /* not the 5 of ".hdf5" */
    const char *end = NULL;
    for (const char *p = base; *p && p != ext; p++)
        if (isdigit((unsigned char)*p)) end = p;
    if (!end) return -1;
    const char *start = end;
    while (start > base && isdigit((unsigned char)start[-1])) start--;
    int64_t v = 0;
    for (const char *p = start; p <= end; p++) {
        if (v > INT64_MAX / 10 - 10) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* ---------------------------------------------------------------- files */

typedef struct {
    int64_t number;
    char group[64];
} demo_entry;

struct episode_file {
    char *path;
    hid_t file;
    episode_layout layout;
    demo_entry *demos; /* robomimic; ACT has one entry with group "/" */
    size_t count;
};

/* 1 if path exists, 0 if not, -1 if it cannot be told (a damaged object header on the way: its
 * checksum fails). Callers that treat -1 as "there" then fail opening it, with a message; a caller
 * that counts must check. */
static int link_exists(hid_t loc, const char *path)
{
    /* H5Lexists on a multi-component path fails if an intermediate link is missing; walk it */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + (buf[0] == '/'); ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            htri_t there = H5Lexists(loc, buf, H5P_DEFAULT);
            if (there <= 0) return there < 0 ? -1 : 0;
            if (!saved) return 1;
            *p = saved;
        }
    }
}

static herr_t collect_demo(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    episode_file *f = data;
    if (strncmp(name, "demo_", 5) != 0 || !name[5] || strlen(name) >= sizeof f->demos->group - 6) return 0;
    for (const char *p = name + 5; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    demo_entry *d = realloc(f->demos, (f->count + 1) * sizeof *d);
    if (!d) return -1;
    f->demos = d;
    d[f->count].number = strtoll(name + 5, NULL, 10);
    snprintf(d[f->count].group, sizeof d->group, "/data/%s", name);
    f->count++;
    return 0;
}

static int demo_cmp(const void *a, const void *b)
{
    int64_t x = ((const demo_entry *)a)->number, y = ((const demo_entry *)b)->number;
    return (x > y) - (x < y);
}

episode_file *episode_file_open(const char *path, episode_layout layout)
{
    h5u_quiet();
    FILE *probe = fopen(path, "rb");
    if (!probe) return error_set("%s: cannot open:", path), NULL;
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) return error_set("%s: not an HDF5 file", path), NULL;
    episode_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return error_set("out of memory"), NULL;
    }
    f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0) {
        error_set("%s: cannot open the HDF5 file (truncated or corrupt?)", path);
        episode_file_close(f);
        return NULL;
    }
    int has_data = link_exists(f->file, "data"), has_obs = link_exists(f->file, "observations") ||
                                                          link_exists(f->file, "action");
    if (has_data < 0) {
        error_set("%s: cannot read the root group (truncated or corrupt?)", path);
        episode_file_close(f);
        return NULL;
    }
    if (layout == EPISODE_LAYOUT_AUTO) {
        if (has_data) layout = EPISODE_LAYOUT_ROBOMIMIC;
        else if (has_obs) layout = EPISODE_LAYOUT_ACT;
        else {
            error_set("%s: neither an ACT episode (/observations, /action) nor a robomimic file (/data)", path);
            episode_file_close(f);
            return NULL;
        }
    }
    f->layout = layout;
    if (layout == EPISODE_LAYOUT_ACT) {
        f->demos = calloc(1, sizeof *f->demos);
        if (!f->demos) {
            episode_file_close(f);
            return error_set("out of memory"), NULL;
        }
        f->demos[0].number = -1;
        strcpy(f->demos[0].group, "/");
        f->count = 1;
        return f;
    }
    hid_t data = has_data ? H5Gopen2(f->file, "data", H5P_DEFAULT) : -1;
    if (data < 0) {
        error_set("%s: no group /data (not a robomimic file)", path);
        episode_file_close(f);
        return NULL;
    }
    hsize_t idx = 0;
    herr_t rc = H5Literate(data, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, collect_demo, f);
    H5Gclose(data);
    if (rc < 0) {
        error_set("%s: cannot list /data (truncated or corrupt?)", path);
        episode_file_close(f);
        return NULL;
    }
    if (f->count == 0) {
        error_set("%s: /data holds no demo_N groups", path);
        episode_file_close(f);
        return NULL;
    }
    qsort(f->demos, f->count, sizeof *f->demos, demo_cmp);
    return f;
}

episode_layout episode_file_layout(const episode_file *f) { return f->layout; }
const char *episode_file_path(const episode_file *f) { return f->path; }
size_t episode_file_count(const episode_file *f) { return f->count; }
int64_t episode_file_number(const episode_file *f, size_t i) { return i < f->count ? f->demos[i].number : -1; }

int episode_file_apply_mask(episode_file *f, const char *name)
{
    if (f->layout != EPISODE_LAYOUT_ROBOMIMIC) return error_set("%s: --mask needs a robomimic file", f->path);
    char path[512];
    snprintf(path, sizeof path, "mask/%s", name);
    if (!link_exists(f->file, path)) return error_set("%s: no mask %s (dataset /mask/%s)", f->path, name, name);
    hid_t dset = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (dset < 0) return error_set("%s: cannot open /mask/%s", f->path, name);
    hid_t ftype = H5Dget_type(dset), space = H5Dget_space(dset);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc = -1;
    char **names = calloc(n > 0 ? (size_t)n : 1, sizeof *names);
    char *fixed = NULL;
    if (H5Tget_class(ftype) != H5T_STRING || n < 0 || !names) {
        error_set("%s: /mask/%s is not a list of demo names", f->path, name);
    } else if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0) rc = 0;
        else error_set("%s: cannot read /mask/%s", f->path, name);
        H5Tclose(mt);
    } else {
        size_t width = H5Tget_size(ftype);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, width + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        fixed = calloc((size_t)(n ? n : 1), width + 1);
        if (fixed && H5Dread(dset, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed) >= 0) {
            for (hssize_t i = 0; i < n; i++) names[i] = fixed + i * (width + 1);
            rc = 0;
        } else {
            error_set("%s: cannot read /mask/%s", f->path, name);
        }
        H5Tclose(mt);
    }
    if (rc == 0) { /* keep the demos named in the mask */
        size_t kept = 0;
        for (size_t i = 0; i < f->count; i++) {
            const char *demo = f->demos[i].group + 6; /* after "/data/" */
            int found = 0;
            for (hssize_t j = 0; j < n && !found; j++) found = names[j] && strcmp(names[j], demo) == 0;
            if (found) f->demos[kept++] = f->demos[i];
        }
        f->count = kept;
    }
    if (!fixed && names && H5Tis_variable_str(ftype) > 0)
        for (hssize_t i = 0; i < n; i++) free(names[i]); /* HDF5 allocated them with malloc */
    free(fixed);
    free(names);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(dset);
    return rc;
}

void episode_file_close(episode_file *f)
{
    if (!f) return;
    if (f->file >= 0 && f->path) H5Fclose(f->file);
    free(f->demos);
    free(f->path);
    free(f);
}

/* ---------------------------------------------------------------- datasets read a block at a time */

typedef struct {
    char *path;            /* for messages: "/observations/qpos" */
    hid_t dset;
    npy_dtype stored;      /* element type read into the block (native) */
    int rank;
    hsize_t dims[NPY_MAX_DIMS];
    int64_t frame_elems;   /* elements per frame */
    int64_t block_frames, block_start, block_len;
    unsigned char *block;
} source;

static void source_close(source *s)
{
    if (s->dset >= 0) H5Dclose(s->dset);
    free(s->block);
    free(s->path);
}

static int source_open(source *s, hid_t file, const char *file_path, const char *path)
{
    memset(s, 0, sizeof *s);
    s->dset = -1;
    s->block_start = -1;
    if (!(s->path = strdup(path))) return error_set("out of memory");
    if (!link_exists(file, path)) return error_set("%s: missing dataset %s", file_path, path);
    s->dset = H5Dopen2(file, path, H5P_DEFAULT);
    if (s->dset < 0) return error_set("%s: cannot open dataset %s (truncated or corrupt?)", file_path, path);
    hid_t type = H5Dget_type(s->dset), space = H5Dget_space(s->dset);
    int dtype_ok = h5u_dtype_of(type, &s->stored) == 0;
    s->rank = H5Sget_simple_extent_ndims(space);
    int rank_ok = s->rank >= 1 && s->rank <= NPY_MAX_DIMS;
    if (rank_ok) H5Sget_simple_extent_dims(space, s->dims, NULL);
    H5Tclose(type);
    H5Sclose(space);
    if (!dtype_ok) return error_set("%s: dataset %s has an unsupported type", file_path, path);
    if (!rank_ok) return error_set("%s: dataset %s has rank %d", file_path, path, s->rank);
    if (h5u_check_stored(s->dset, path) < 0) return error_prefix("%s: ", file_path);
    s->frame_elems = 1;
    size_t frame_bytes = npy_dtype_size(s->stored);
    for (int i = 1; i < s->rank; i++) {
        if (s->dims[i] > H5U_CHUNK_BYTES_MAX / frame_bytes)
            return error_set("%s: dataset %s: one frame is over %zu bytes", file_path, path, H5U_CHUNK_BYTES_MAX);
        s->frame_elems *= (int64_t)s->dims[i];
        frame_bytes *= (size_t)s->dims[i];
    }
    int64_t chunk_frames = 1;
    hid_t dcpl = H5Dget_create_plist(s->dset);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t chunk[NPY_MAX_DIMS];
        if (H5Pget_chunk(dcpl, NPY_MAX_DIMS, chunk) >= 1) chunk_frames = (int64_t)chunk[0];
    }
    H5Pclose(dcpl);
    int64_t frames = frame_bytes ? (int64_t)(BLOCK_BYTES / frame_bytes) : 1;
    if (frames < 1) frames = 1;
    if (frames > chunk_frames) frames = frames / chunk_frames * chunk_frames; /* whole chunks */
    else frames = chunk_frames;
    if (frames > (int64_t)s->dims[0]) frames = (int64_t)s->dims[0] > 0 ? (int64_t)s->dims[0] : 1;
    s->block_frames = frames;
    s->block = malloc((size_t)frames * frame_bytes + 1);
    if (!s->block) return error_set("%s: dataset %s: out of memory", file_path, path);
    return 0;
}

/* Pointer to frame t's elements (of type s->stored), reading its block if needed. */
static const void *source_frame(source *s, const char *file_path, int64_t t)
{
    if (t < s->block_start || t >= s->block_start + s->block_len) {
        int64_t start = t / s->block_frames * s->block_frames;
        int64_t len = (int64_t)s->dims[0] - start;
        if (len > s->block_frames) len = s->block_frames;
        hsize_t offset[NPY_MAX_DIMS] = {0}, count[NPY_MAX_DIMS];
        offset[0] = (hsize_t)start;
        count[0] = (hsize_t)len;
        for (int i = 1; i < s->rank; i++) count[i] = s->dims[i];
        hid_t fspace = H5Dget_space(s->dset);
        hid_t mspace = H5Screate_simple(s->rank, count, NULL);
        hid_t mtype = h5u_type_for(s->stored);
        herr_t rc = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, offset, NULL, count, NULL);
        if (rc >= 0) rc = H5Dread(s->dset, mtype, mspace, fspace, H5P_DEFAULT, s->block);
        h5u_type_close(mtype);
        H5Sclose(mspace);
        H5Sclose(fspace);
        if (rc < 0) {
            s->block_start = -1;
            s->block_len = 0;
            return error_set("%s: cannot read %s frames %" PRId64 "-%" PRId64 " (truncated or corrupt file?)",
                             file_path, s->path, start, start + len - 1),
                   NULL;
        }
        s->block_start = start;
        s->block_len = len;
    }
    return s->block + (size_t)(t - s->block_start) * (size_t)s->frame_elems * npy_dtype_size(s->stored);
}

/* Convert n stored elements to float32. */
static void to_float(const void *src, npy_dtype dtype, int64_t n, float *dst)
{
    npy_array view = {.dtype = dtype, .ndim = 1, .shape = {n}, .data = (void *)src};
    if (dtype == NPY_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else if (dtype == NPY_F64)
        for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i];
    else
        for (int64_t i = 0; i < n; i++) dst[i] = (float)npy_array_get_double(&view, i);
}

/* ---------------------------------------------------------------- features */

typedef enum { KIND_VECTOR, KIND_IMAGE, KIND_SCALAR_FLOAT, KIND_SCALAR_BOOL } feature_kind;

typedef struct {
    char *name;          /* canonical feature name */
    feature_kind kind;
    int first_source, n_sources;
    int64_t width;       /* KIND_VECTOR: D */
    int h, w;            /* KIND_IMAGE: output size */
    image_resizer *resizer;
} feature;

struct episode_reader {
    const episode_file *file;
    int64_t index, length;
    source *sources;
    int n_sources;
    feature *features;
    int n_features;
};

static int add_source(episode_reader *r, const char *path)
{
    source *s = realloc(r->sources, (r->n_sources + 1) * sizeof *s);
    if (!s) return error_set("out of memory");
    r->sources = s;
    if (source_open(&s[r->n_sources], r->file->file, r->file->path, path) < 0) {
        source_close(&s[r->n_sources]);
        return -1;
    }
    return r->n_sources++;
}

static feature *add_feature(episode_reader *r, const char *name, feature_kind kind)
{
    feature *f = realloc(r->features, (r->n_features + 1) * sizeof *f);
    if (!f) return error_set("out of memory"), NULL;
    r->features = f;
    f = &f[r->n_features];
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(name))) return error_set("out of memory"), NULL;
    f->kind = kind;
    f->first_source = r->n_sources;
    r->n_features++;
    return f;
}

/* Is feature `name` wanted? Unrequested features are skipped; "observation.images" selects
 * every camera. */
static int wanted(const episode_read_options *o, const char *name)
{
    if (!o || !o->features) return 1;
    for (char **p = o->features; *p; p++) {
        if (strcmp(*p, name) == 0) return 1;
        size_t n = strlen(*p);
        if (strncmp(*p, name, n) == 0 && name[n] == '.' && strcmp(*p, "observation.images") == 0) return 1;
    }
    return 0;
}

typedef struct {
    episode_reader *r;
    const char *group;
    const episode_read_options *o;
    int rc;
} image_walk;

static int add_image_feature(episode_reader *r, const char *name, const char *path, const episode_read_options *o)
{
    feature *f = add_feature(r, name, KIND_IMAGE);
    if (!f) return -1;
    int si = add_source(r, path);
    if (si < 0) return -1;
    f->n_sources = 1;
    source *s = &r->sources[si];
    if (s->rank != 4 || s->dims[3] != 3 || s->stored != NPY_U8)
        return error_set("%s: %s should be uint8 (T,H,W,3), not %s of rank %d", r->file->path, path,
                         npy_dtype_name(s->stored), s->rank);
    f->h = (int)s->dims[1];
    f->w = (int)s->dims[2];
    if (o && o->resize_height > 0 && (o->resize_height != f->h || o->resize_width != f->w)) {
        f->resizer = image_resizer_new(f->h, f->w, o->resize_height, o->resize_width, 3);
        if (!f->resizer) return error_prefix("%s: %s: ", r->file->path, path);
        f->h = o->resize_height;
        f->w = o->resize_width;
    }
    return 0;
}

/* Link iteration over an images group (ACT) or an obs group (robomimic), in name order. */
static herr_t visit_image(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    image_walk *wk = data;
    char feature_name[256], path[512];
    int robomimic = wk->r->file->layout == EPISODE_LAYOUT_ROBOMIMIC;
    size_t n = strlen(name);
    if (robomimic) {
        if (n <= 6 || strcmp(name + n - 6, "_image") != 0) return 0;
        snprintf(feature_name, sizeof feature_name, "observation.images.%.*s", (int)(n - 6), name);
    } else {
        snprintf(feature_name, sizeof feature_name, "observation.images.%s", name);
    }
    if (!wanted(wk->o, feature_name)) return 0;
    snprintf(path, sizeof path, "%s/%s", wk->group, name);
    if (add_image_feature(wk->r, feature_name, path, wk->o) < 0) {
        wk->rc = -1;
        return 1; /* stop */
    }
    return 0;
}

static int add_images(episode_reader *r, const char *group_path, const episode_read_options *o)
{
    if (!link_exists(r->file->file, group_path)) return 0;
    hid_t g = H5Gopen2(r->file->file, group_path, H5P_DEFAULT);
    if (g < 0) return error_set("%s: cannot open group %s", r->file->path, group_path);
    image_walk wk = {r, group_path, o, 0};
    hsize_t idx = 0;
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_image, &wk);
    H5Gclose(g);
    if (wk.rc < 0) return -1;
    if (rc < 0) return error_set("%s: cannot list group %s", r->file->path, group_path);
    return 0;
}

static int add_vector(episode_reader *r, const char *name, const char *const *paths, int n_paths)
{
    feature *f = add_feature(r, name, KIND_VECTOR);
    if (!f) return -1;
    for (int i = 0; i < n_paths; i++) {
        int si = add_source(r, paths[i]);
        if (si < 0) return -1;
        f->n_sources++;
        source *s = &r->sources[si];
        if (s->rank > 2) return error_set("%s: %s should be (T,D), it has rank %d", r->file->path, paths[i], s->rank);
        f->width += s->frame_elems;
    }
    return 0;
}

static int add_scalar(episode_reader *r, const char *name, const char *path, feature_kind kind)
{
    feature *f = add_feature(r, name, kind);
    if (!f) return -1;
    int si = add_source(r, path);
    if (si < 0) return -1;
    f->n_sources = 1;
    if (r->sources[si].frame_elems != 1)
        return error_set("%s: %s should hold one value per frame", r->file->path, path);
    return 0;
}

static int setup_act(episode_reader *r, const episode_read_options *o)
{
    const char *qpos = "/observations/qpos", *qvel = "/observations/qvel", *action = "/action";
    if (wanted(o, "observation.state") && add_vector(r, "observation.state", &qpos, 1) < 0) return -1;
    if (wanted(o, "observation.velocity") && (o && o->features ? 1 : link_exists(r->file->file, qvel)) &&
        add_vector(r, "observation.velocity", &qvel, 1) < 0)
        return -1;
    if (add_images(r, "/observations/images", o) < 0) return -1;
    if (wanted(o, "action") && add_vector(r, "action", &action, 1) < 0) return -1;
    return 0;
}

static int setup_robomimic(episode_reader *r, const char *group, const episode_read_options *o)
{
    char path[512];
    char **keys = o && o->state_keys ? o->state_keys : NULL, **defaults = NULL;
    if (!keys) keys = defaults = strlist_split(EPISODE_DEFAULT_STATE_KEYS, ',', NULL);
    if (!keys) return error_set("out of memory");
    int rc = 0;
    if (wanted(o, "observation.state")) {
        /* with the default keys and an explicit feature list absent, a file without them has no state */
        int n = 0, present = 0;
        for (char **k = keys; *k; k++, n++) {
            snprintf(path, sizeof path, "%s/obs/%s", group, *k);
            int there = link_exists(r->file->file, path);
            if (there < 0) {
                strlist_free(defaults);
                return error_set("%s: cannot read %s (corrupt file?)", r->file->path, path);
            }
            present += there;
        }
        int required = !defaults || (o && o->features);
        if (present || required) {
            char **paths = calloc(n, sizeof *paths);
            for (int i = 0; paths && i < n; i++) {
                paths[i] = malloc(strlen(group) + strlen(keys[i]) + 8);
                if (paths[i]) sprintf(paths[i], "%s/obs/%s", group, keys[i]);
            }
            rc = paths ? add_vector(r, "observation.state", (const char *const *)paths, n) : error_set("out of memory");
            for (int i = 0; paths && i < n; i++) free(paths[i]);
            free(paths);
        }
    }
    strlist_free(defaults);
    if (rc < 0) return -1;
    for (char **k = o && o->obs_keys ? o->obs_keys : NULL; k && *k; k++) {
        char name[256];
        snprintf(name, sizeof name, "observation.%s", *k);
        snprintf(path, sizeof path, "%s/obs/%s", group, *k);
        const char *p = path;
        if (wanted(o, name) && add_vector(r, name, &p, 1) < 0) return -1;
    }
    snprintf(path, sizeof path, "%s/obs", group);
    if (add_images(r, path, o) < 0) return -1;
    snprintf(path, sizeof path, "%s/actions", group);
    const char *p = path;
    if (wanted(o, "action") && add_vector(r, "action", &p, 1) < 0) return -1;
    int explicit = o && o->features;
    snprintf(path, sizeof path, "%s/rewards", group);
    if (wanted(o, "next.reward") && (explicit || link_exists(r->file->file, path)) &&
        add_scalar(r, "next.reward", path, KIND_SCALAR_FLOAT) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/dones", group);
    if (wanted(o, "next.done") && (explicit || link_exists(r->file->file, path)) &&
        add_scalar(r, "next.done", path, KIND_SCALAR_BOOL) < 0)
        return -1;
    return 0;
}

episode_reader *episode_reader_open(episode_file *f, size_t i, int64_t index, const episode_read_options *o)
{
    if (i >= f->count) return error_set("%s: no episode %zu", f->path, i), NULL;
    episode_reader *r = calloc(1, sizeof *r);
    if (!r) return error_set("out of memory"), NULL;
    r->file = f;
    r->index = index;
    int rc = f->layout == EPISODE_LAYOUT_ACT ? setup_act(r, o) : setup_robomimic(r, f->demos[i].group, o);
    if (rc == 0 && o && o->features) { /* every requested name must have matched something */
        for (char **p = o->features; *p && rc == 0; p++) {
            int found = 0;
            for (int k = 0; k < r->n_features && !found; k++)
                found = wanted(&(episode_read_options){.features = (char *[]){*p, NULL}}, r->features[k].name);
            if (!found && strcmp(*p, "episode_index") != 0 && strcmp(*p, "frame_index") != 0)
                rc = error_set("%s: episode %" PRId64 " has no feature %s", f->path, index, *p);
        }
    }
    if (rc == 0 && r->n_sources == 0) rc = error_set("%s: episode %" PRId64 " has no datasets to read", f->path, index);
    if (rc == 0) {
        r->length = (int64_t)r->sources[0].dims[0];
        for (int k = 1; k < r->n_sources; k++)
            if ((int64_t)r->sources[k].dims[0] != r->length) {
                rc = error_set("%s: episode %" PRId64 ": %s has %" PRId64 " frames but %s has %" PRId64, f->path, index,
                               r->sources[k].path, (int64_t)r->sources[k].dims[0], r->sources[0].path, r->length);
                break;
            }
    }
    if (rc < 0) {
        episode_reader_close(r);
        return NULL;
    }
    return r;
}

int64_t episode_reader_length(const episode_reader *r) { return r->length; }

int episode_reader_frame(episode_reader *r, int64_t t, stream_sample *s)
{
    const char *fp = r->file->path;
    if (t < 0 || t >= r->length) return error_set("%s: episode %" PRId64 " has no frame %" PRId64, fp, r->index, t);
    if (stream_sample_reset(s, "ep%06" PRId64 "_t%06" PRId64, r->index, t) < 0 ||
        stream_sample_add_i64(s, "episode_index", r->index) < 0 || stream_sample_add_i64(s, "frame_index", t) < 0)
        return -1;
    for (int k = 0; k < r->n_features; k++) {
        feature *f = &r->features[k];
        source *src = &r->sources[f->first_source];
        npy_array *a;
        switch (f->kind) {
        case KIND_VECTOR: {
            if (!(a = stream_sample_add(s, f->name, NPY_F32, 1, &f->width))) return -1;
            float *out = a->data;
            for (int j = 0; j < f->n_sources; j++) {
                const void *x = source_frame(&src[j], fp, t);
                if (!x) return -1;
                to_float(x, src[j].stored, src[j].frame_elems, out);
                out += src[j].frame_elems;
            }
            break;
        }
        case KIND_IMAGE: {
            int64_t shape[3] = {f->h, f->w, 3};
            if (!(a = stream_sample_add(s, f->name, NPY_U8, 3, shape))) return -1;
            const void *x = source_frame(src, fp, t);
            if (!x) return -1;
            if (f->resizer) image_resizer_run(f->resizer, x, a->data);
            else memcpy(a->data, x, (size_t)src->frame_elems);
            break;
        }
        case KIND_SCALAR_FLOAT:
        case KIND_SCALAR_BOOL: {
            const void *x = source_frame(src, fp, t);
            if (!x) return -1;
            float v;
            to_float(x, src->stored, 1, &v);
            if (f->kind == KIND_SCALAR_FLOAT) {
                if (stream_sample_add_f32(s, f->name, v) < 0) return -1;
            } else {
                if (!(a = stream_sample_add(s, f->name, NPY_BOOL, 0, NULL))) return -1;
                *(uint8_t *)a->data = v != 0;
            }
            break;
        }
        }
    }
    return 0;
}

void episode_reader_close(episode_reader *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_sources; i++) source_close(&r->sources[i]);
    for (int i = 0; i < r->n_features; i++) {
        free(r->features[i].name);
        image_resizer_free(r->features[i].resizer);
    }
    free(r->sources);
    free(r->features);
    free(r);
}
