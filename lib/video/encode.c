/* encode.c — RGB frames to H.264/MP4 (libavcodec + libx264, libswscale for yuv420p), to an
 * animated GIF (libavcodec's gif encoder fed pal8 frames quantized here) or to a PNG still of the
 * last frame (libavcodec's png encoder), written to a temporary file that is renamed into place
 * at the end. */
#include "video/encode.h"

#include "util/error.h"
#include "util/tempfile.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct video_writer {
    video_kind_t kind;
    char *path, *temp_path;
    int height, width;         /* of the frames given */
    int out_height, out_width; /* encoded (padded to even for yuv420p) */
    AVFormatContext *format;
    AVCodecContext *codec;
    AVStream *stream;
    AVFrame *frame;
    AVPacket *packet;
    struct SwsContext *sws;
    uint8_t *padded; /* out_height*out_width*3 RGB when padding is needed */
    uint8_t *last;   /* PNG: the last frame added */
    int64_t frames;
};

static int av_error(int code, const char *what, const char *path)
{
    char text[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, text, sizeof text);
    return error_set("%s: %s: %s", path, what, text);
}

int video_kind_from_path(const char *path, video_kind_t *kind)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (dot && strcasecmp(dot, ".gif") == 0) {
        *kind = VIDEO_KIND_GIF;
        return 0;
    }
    if (dot && strcasecmp(dot, ".png") == 0) {
        *kind = VIDEO_KIND_PNG;
        return 0;
    }
    static const char *h264_extensions[] = {".mp4", ".m4v", ".mov", ".mkv"};
    for (size_t i = 0; dot && i < sizeof h264_extensions / sizeof *h264_extensions; i++)
        if (strcasecmp(dot, h264_extensions[i]) == 0) {
            *kind = VIDEO_KIND_H264;
            return 0;
        }
    return error_set("%s: unknown video type (expected a name ending in .mp4, .m4v, .mov, .mkv, .gif or .png)", path);
}

/* ---------------------------------------------------------------- GIF palette */
/* A fixed 6x7x6 colour cube (252 entries; green gets the extra level, the eye is most sensitive
 * to it) with 4x4 ordered dithering: the same palette for every frame keeps the GIF small and the
 * result deterministic. */
enum { GIF_LEVELS_R = 6, GIF_LEVELS_G = 7, GIF_LEVELS_B = 6 };

static void gif_palette(uint32_t palette[256])
{
    memset(palette, 0, 256 * sizeof *palette);
    int i = 0;
    for (int r = 0; r < GIF_LEVELS_R; r++)
        for (int g = 0; g < GIF_LEVELS_G; g++)
            for (int b = 0; b < GIF_LEVELS_B; b++) {
                uint32_t rv = (uint32_t)(r * 255 / (GIF_LEVELS_R - 1));
                uint32_t gv = (uint32_t)(g * 255 / (GIF_LEVELS_G - 1));
                uint32_t bv = (uint32_t)(b * 255 / (GIF_LEVELS_B - 1));
                palette[i++] = 0xFF000000u | rv << 16 | gv << 8 | bv;
            }
}

static int gif_quantize(int value, int levels, int threshold16)
{
    /* value scaled to [0, levels-1] plus a dither offset in [0, 1) */
    int scaled = value * (levels - 1) * 16 + threshold16 * 255;
    int q = scaled / (255 * 16);
    return q > levels - 1 ? levels - 1 : q;
}

static void gif_convert(const uint8_t *rgb, int height, int width, uint8_t *out, int out_stride)
{
    static const int bayer4[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            const uint8_t *p = rgb + ((size_t)y * width + x) * 3;
            int t = bayer4[y & 3][x & 3];
            int r = gif_quantize(p[0], GIF_LEVELS_R, t);
            int g = gif_quantize(p[1], GIF_LEVELS_G, t);
            int b = gif_quantize(p[2], GIF_LEVELS_B, t);
            out[(size_t)y * out_stride + x] = (uint8_t)((r * GIF_LEVELS_G + g) * GIF_LEVELS_B + b);
        }
}

/* ---------------------------------------------------------------- open */
static char *make_temp_path(const char *path)
{
    char *temp = malloc(TEMPFILE_MAX);
    if (!temp) return error_set("%s: out of memory", path), NULL;
    if (tempfile_begin(path, temp, TEMPFILE_MAX) < 0) {
        free(temp);
        return NULL;
    }
    return temp;
}

static int open_encoder(video_writer_t *v, const video_options_t *options)
{
    int gif = v->kind == VIDEO_KIND_GIF;
    const AVCodec *codec = gif ? avcodec_find_encoder(AV_CODEC_ID_GIF) : avcodec_find_encoder_by_name("libx264");
    if (!codec) return error_set("%s: this FFmpeg has no %s encoder", v->path, gif ? "gif" : "libx264");
    v->codec = avcodec_alloc_context3(codec);
    if (!v->codec) return error_set("%s: out of memory", v->path);
    v->codec->width = v->out_width;
    v->codec->height = v->out_height;
    v->codec->time_base = (AVRational){1, options->fps};
    v->codec->framerate = (AVRational){options->fps, 1};
    v->codec->pix_fmt = gif ? AV_PIX_FMT_PAL8 : AV_PIX_FMT_YUV420P;
    v->codec->gop_size = gif ? 0 : options->fps * 10;
    if (v->format->oformat->flags & AVFMT_GLOBALHEADER) v->codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *codec_options = NULL;
    if (!gif) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", options->crf);
        av_dict_set(&codec_options, "crf", crf, 0);
        av_dict_set(&codec_options, "preset", options->preset ? options->preset : "medium", 0);
    }
    int rc = avcodec_open2(v->codec, codec, &codec_options);
    av_dict_free(&codec_options);
    if (rc < 0) return av_error(rc, gif ? "cannot open the gif encoder" : "cannot open libx264", v->path);
    return 0;
}

video_writer_t *video_writer_open(const char *path, int height, int width, const video_options_t *options)
{
    video_kind_t kind;
    if (video_kind_from_path(path, &kind) < 0) return NULL;
    if (height <= 0 || width <= 0) {
        error_set("%s: bad frame size %dx%d", path, height, width);
        return NULL;
    }
    if (options->fps <= 0 || options->crf < 0 || options->crf > 51) {
        error_set("%s: bad encoder options (fps %d, crf %d)", path, options->fps, options->crf);
        return NULL;
    }
    av_log_set_level(AV_LOG_ERROR);
    video_writer_t *v = calloc(1, sizeof *v);
    if (!v) {
        error_set("%s: out of memory", path);
        return NULL;
    }
    v->kind = kind;
    v->height = height;
    v->width = width;
    v->out_height = kind == VIDEO_KIND_H264 ? (height + 1) & ~1 : height;
    v->out_width = kind == VIDEO_KIND_H264 ? (width + 1) & ~1 : width;
    v->path = strdup(path);
    if (!v->path) goto fail_memory;
    v->temp_path = make_temp_path(path);
    if (!v->temp_path) goto fail;
    if (kind == VIDEO_KIND_PNG) {
        if (!avcodec_find_encoder(AV_CODEC_ID_PNG)) {
            error_set("%s: this FFmpeg has no png encoder", path);
            goto fail;
        }
        if (!(v->last = malloc((size_t)height * width * 3))) goto fail_memory;
        return v;
    }

    const AVOutputFormat *format = av_guess_format(NULL, path, NULL);
    if (!format) {
        error_set("%s: libavformat knows no container for this name", path);
        goto fail;
    }
    int rc = avformat_alloc_output_context2(&v->format, format, NULL, v->temp_path);
    if (rc < 0) {
        av_error(rc, "cannot set up the container", path);
        goto fail;
    }
    if (open_encoder(v, options) < 0) goto fail;
    v->stream = avformat_new_stream(v->format, NULL);
    if (!v->stream) goto fail_memory;
    v->stream->time_base = v->codec->time_base;
    v->stream->avg_frame_rate = v->codec->framerate;
    rc = avcodec_parameters_from_context(v->stream->codecpar, v->codec);
    if (rc < 0) {
        av_error(rc, "cannot set the stream parameters", path);
        goto fail;
    }
    rc = avio_open(&v->format->pb, v->temp_path, AVIO_FLAG_WRITE);
    if (rc < 0) {
        av_error(rc, "cannot open for writing", path);
        goto fail;
    }
    AVDictionary *muxer_options = NULL;
    if (kind == VIDEO_KIND_H264 && strcmp(format->name, "mp4") == 0)
        av_dict_set(&muxer_options, "movflags", "+faststart", 0); /* playable while downloading */
    if (kind == VIDEO_KIND_GIF) av_dict_set(&muxer_options, "loop", "0", 0);
    rc = avformat_write_header(v->format, &muxer_options);
    av_dict_free(&muxer_options);
    if (rc < 0) {
        av_error(rc, "cannot write the header", path);
        goto fail;
    }

    v->frame = av_frame_alloc();
    v->packet = av_packet_alloc();
    if (!v->frame || !v->packet) goto fail_memory;
    v->frame->format = v->codec->pix_fmt;
    v->frame->width = v->out_width;
    v->frame->height = v->out_height;
    rc = av_frame_get_buffer(v->frame, 0);
    if (rc < 0) {
        av_error(rc, "cannot allocate a frame", path);
        goto fail;
    }
    if (kind == VIDEO_KIND_H264) {
        v->sws = sws_getContext(v->out_width, v->out_height, AV_PIX_FMT_RGB24, v->out_width, v->out_height,
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR | SWS_ACCURATE_RND, NULL, NULL, NULL);
        if (!v->sws) {
            error_set("%s: cannot set up the RGB to yuv420p conversion", path);
            goto fail;
        }
        if (v->out_height != height || v->out_width != width) {
            v->padded = malloc((size_t)v->out_height * v->out_width * 3);
            if (!v->padded) goto fail_memory;
        }
    }
    return v;

fail_memory:
    error_set("%s: out of memory", path);
fail:
    video_writer_abort(v);
    return NULL;
}

/* ---------------------------------------------------------------- write */
/* Send one frame (NULL flushes) and write every packet the encoder has ready. */
static int encode_and_write(video_writer_t *v, AVFrame *frame)
{
    int rc = avcodec_send_frame(v->codec, frame);
    if (rc < 0) return av_error(rc, "encoder refused a frame", v->path);
    for (;;) {
        rc = avcodec_receive_packet(v->codec, v->packet);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
        if (rc < 0) return av_error(rc, "encoding failed", v->path);
        av_packet_rescale_ts(v->packet, v->codec->time_base, v->stream->time_base);
        v->packet->stream_index = v->stream->index;
        rc = av_interleaved_write_frame(v->format, v->packet);
        if (rc < 0) return av_error(rc, "write failed", v->path);
    }
}

/* Copy a frame into the padded buffer, repeating the last column and row. */
static const uint8_t *pad_frame(video_writer_t *v, const uint8_t *rgb)
{
    size_t in_row = (size_t)v->width * 3, out_row = (size_t)v->out_width * 3;
    for (int y = 0; y < v->out_height; y++) {
        const uint8_t *src = rgb + (size_t)(y < v->height ? y : v->height - 1) * in_row;
        uint8_t *dst = v->padded + (size_t)y * out_row;
        memcpy(dst, src, in_row);
        for (int x = v->width; x < v->out_width; x++) memcpy(dst + (size_t)x * 3, src + in_row - 3, 3);
    }
    return v->padded;
}

int video_writer_add(video_writer_t *v, const uint8_t *rgb)
{
    if (v->kind == VIDEO_KIND_PNG) {
        memcpy(v->last, rgb, (size_t)v->height * v->width * 3);
        v->frames++;
        return 0;
    }
    int rc = av_frame_make_writable(v->frame);
    if (rc < 0) return av_error(rc, "cannot reuse the frame buffer", v->path);
    if (v->kind == VIDEO_KIND_GIF) {
        gif_convert(rgb, v->height, v->width, v->frame->data[0], v->frame->linesize[0]);
        gif_palette((uint32_t *)v->frame->data[1]);
    } else {
        const uint8_t *src = v->padded ? pad_frame(v, rgb) : rgb;
        const uint8_t *planes[1] = {src};
        int strides[1] = {v->out_width * 3};
        sws_scale(v->sws, planes, strides, 0, v->out_height, v->frame->data, v->frame->linesize);
    }
    v->frame->pts = v->frames;
    if (encode_and_write(v, v->frame) < 0) return -1;
    v->frames++;
    return 0;
}

int64_t video_writer_frames(const video_writer_t *v) { return v->frames; }
const char *video_writer_temp_path(const video_writer_t *v) { return v->temp_path; }

/* ---------------------------------------------------------------- close */
static void writer_free(video_writer_t *v)
{
    if (v->format) {
        if (v->format->pb) avio_closep(&v->format->pb);
        avformat_free_context(v->format);
    }
    avcodec_free_context(&v->codec);
    av_frame_free(&v->frame);
    av_packet_free(&v->packet);
    sws_freeContext(v->sws);
    free(v->padded);
    free(v->last);
    free(v->path);
    free(v->temp_path);
    free(v);
}

/* The last frame as one PNG image into the temporary file. */
static int write_png(video_writer_t *v)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!(v->codec = avcodec_alloc_context3(codec)) || !(v->frame = av_frame_alloc()) || !(v->packet = av_packet_alloc()))
        return error_set("%s: out of memory", v->path);
    v->codec->width = v->width;
    v->codec->height = v->height;
    v->codec->pix_fmt = AV_PIX_FMT_RGB24;
    v->codec->time_base = (AVRational){1, 1};
    int rc = avcodec_open2(v->codec, codec, NULL);
    if (rc < 0) return av_error(rc, "cannot open the png encoder", v->path);
    v->frame->format = AV_PIX_FMT_RGB24;
    v->frame->width = v->width;
    v->frame->height = v->height;
    if ((rc = av_frame_get_buffer(v->frame, 0)) < 0) return av_error(rc, "cannot allocate a frame", v->path);
    for (int y = 0; y < v->height; y++)
        memcpy(v->frame->data[0] + (size_t)y * v->frame->linesize[0], v->last + (size_t)y * v->width * 3,
               (size_t)v->width * 3);
    if ((rc = avcodec_send_frame(v->codec, v->frame)) < 0 || (rc = avcodec_send_frame(v->codec, NULL)) < 0)
        return av_error(rc, "encoder refused the frame", v->path);
    if ((rc = avcodec_receive_packet(v->codec, v->packet)) < 0) return av_error(rc, "encoding failed", v->path);
    FILE *fp = fopen(v->temp_path, "wb");
    if (!fp) return error_set("%s: cannot open %s:", v->path, v->temp_path);
    int bad = fwrite(v->packet->data, 1, (size_t)v->packet->size, fp) != (size_t)v->packet->size;
    bad |= fflush(fp) != 0;
    if (fclose(fp) != 0 || bad) return error_set("%s: write failed:", v->path);
    return 0;
}

int video_writer_finish(video_writer_t *v)
{
    if (v->frames == 0) {
        error_set("%s: no frames to write", v->path);
        video_writer_abort(v);
        return -1;
    }
    if (v->kind == VIDEO_KIND_PNG) {
        if (write_png(v) < 0) goto fail;
        int committed = tempfile_commit(v->temp_path, v->path); /* removes the temporary on failure */
        writer_free(v);
        return committed;
    }
    if (encode_and_write(v, NULL) < 0) goto fail;
    int rc = av_write_trailer(v->format);
    if (rc < 0) {
        av_error(rc, "cannot write the trailer", v->path);
        goto fail;
    }
    rc = avio_closep(&v->format->pb);
    if (rc < 0) {
        av_error(rc, "write failed", v->path);
        goto fail;
    }
    rc = tempfile_commit(v->temp_path, v->path); /* removes the temporary on failure */
    writer_free(v);
    return rc;
fail:
    video_writer_abort(v);
    return -1;
}

void video_writer_abort(video_writer_t *v)
{
    if (!v) return;
    if (v->format && v->format->pb) avio_closep(&v->format->pb);
    if (v->temp_path) tempfile_discard(v->temp_path);
    writer_free(v);
}
