/* tile.c — side-by-side tiling of camera images and a 5x7 bitmap font for their labels. */
#include "video/tile.h"

#include <ctype.h>
#include <string.h>

/* ---------------------------------------------------------------- font */
/* Each glyph is 7 rows of 5 bits, bit 4 the leftmost pixel. */
enum { GLYPH_WIDTH = 5, GLYPH_HEIGHT = 7, GLYPH_ADVANCE = 6 };

static const uint8_t glyph_letters[26][GLYPH_HEIGHT] = {
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
};

static const uint8_t glyph_digits[10][GLYPH_HEIGHT] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
};

static const uint8_t glyph_underscore[GLYPH_HEIGHT] = {0, 0, 0, 0, 0, 0, 0x1F};
static const uint8_t glyph_dash[GLYPH_HEIGHT] = {0, 0, 0, 0x1F, 0, 0, 0};
static const uint8_t glyph_dot[GLYPH_HEIGHT] = {0, 0, 0, 0, 0, 0x0C, 0x0C};
static const uint8_t glyph_slash[GLYPH_HEIGHT] = {0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10};
static const uint8_t glyph_colon[GLYPH_HEIGHT] = {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0};
static const uint8_t glyph_space[GLYPH_HEIGHT] = {0};
static const uint8_t glyph_unknown[GLYPH_HEIGHT] = {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04};

static const uint8_t *glyph_for(char c)
{
    unsigned char u = (unsigned char)c;
    if (isalpha(u)) return glyph_letters[toupper(u) - 'A'];
    if (isdigit(u)) return glyph_digits[u - '0'];
    switch (c) {
    case '_': return glyph_underscore;
    case '-': return glyph_dash;
    case '.': return glyph_dot;
    case '/': return glyph_slash;
    case ':': return glyph_colon;
    case ' ': return glyph_space;
    default: return glyph_unknown;
    }
}

static void darken_box(uint8_t *rgb, int height, int width, int x0, int y0, int x1, int y1)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < height; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < width; x++) {
            uint8_t *p = rgb + ((size_t)y * width + x) * 3;
            for (int c = 0; c < 3; c++) p[c] = (uint8_t)(p[c] / 3);
        }
}

void video_draw_text(uint8_t *rgb, int height, int width, int x, int y, int scale, const char *text)
{
    if (scale < 1) scale = 1;
    int n = (int)strlen(text);
    if (n == 0) return;
    int box_width = (n * GLYPH_ADVANCE + 1) * scale, box_height = (GLYPH_HEIGHT + 2) * scale;
    darken_box(rgb, height, width, x, y, x + box_width, y + box_height);
    for (int i = 0; i < n; i++) {
        const uint8_t *glyph = glyph_for(text[i]);
        int gx = x + (1 + i * GLYPH_ADVANCE) * scale, gy = y + scale;
        for (int row = 0; row < GLYPH_HEIGHT; row++)
            for (int col = 0; col < GLYPH_WIDTH; col++) {
                if (!(glyph[row] >> (GLYPH_WIDTH - 1 - col) & 1)) continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        int px = gx + col * scale + dx, py = gy + row * scale + dy;
                        if (px < 0 || py < 0 || px >= width || py >= height) continue;
                        memset(rgb + ((size_t)py * width + px) * 3, 255, 3);
                    }
            }
    }
}

int video_text_width(const char *text, int scale) { return ((int)strlen(text) * GLYPH_ADVANCE + 1) * scale; }
int video_text_height(int scale) { return (GLYPH_HEIGHT + 2) * scale; }
int video_text_scale(int height) { return height >= 360 ? 3 : height >= 200 ? 2 : 1; }

/* ---------------------------------------------------------------- tiling */
void video_tile_size(const video_tile_t *tiles, int n, int *height, int *width)
{
    *height = 0;
    *width = 0;
    for (int i = 0; i < n; i++) {
        if (tiles[i].height > *height) *height = tiles[i].height;
        *width += tiles[i].width;
    }
}

void video_tile_compose(const video_tile_t *tiles, int n, int label, uint8_t *frame)
{
    int height, width;
    video_tile_size(tiles, n, &height, &width);
    memset(frame, 0, (size_t)height * width * 3);
    int x0 = 0;
    for (int i = 0; i < n; i++) {
        const video_tile_t *t = &tiles[i];
        for (int y = 0; y < t->height; y++)
            memcpy(frame + ((size_t)y * width + x0) * 3, t->rgb + (size_t)y * t->width * 3, (size_t)t->width * 3);
        x0 += t->width;
    }
    if (!label) return;
    /* After all images, so that a name wider than its tile runs on rather than being covered. */
    x0 = 0;
    for (int i = 0; i < n; i++) {
        const video_tile_t *t = &tiles[i];
        int scale = video_text_scale(t->height);
        if (t->name) video_draw_text(frame, height, width, x0 + scale, scale, scale, t->name);
        x0 += t->width;
    }
}
