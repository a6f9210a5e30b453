/* regress_main.c — the regression runner of a fuzz harness, built with the ordinary compiler:
 * every file named on the command line (a directory: every file in it) goes once through
 * LLVMFuzzerTestOneInput. A crash or a sanitizer report fails the run; otherwise it prints
 * "ok N inputs". make test runs it over tests/fuzz/corpus/<name>/. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, size = 0, n;
    uint8_t *buf = malloc(cap);
    while (buf && (n = fread(buf + size, 1, cap - size, fp)) > 0) {
        size += n;
        if (size == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0) return 1;
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) < 0) return 1;
                count++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("ok %d inputs\n", count);
    return 0;
}
