/* tempfile.c — temporary names beside the final file, sync + rename, stale temporaries of dead
 * writers, removal on SIGINT/SIGTERM/SIGHUP (tempfile.h). */
#include "util/tempfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

/* ---------------------------------------------------------------- tracked temporaries */
/* Written under the mutex, read by the signal handler: a slot's name is complete before its
 * flag is raised and the flag falls before the name changes. */
static char guarded[TEMPFILE_GUARDED][TEMPFILE_MAX];
static volatile sig_atomic_t guarded_used[TEMPFILE_GUARDED];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

static void guard(const char *tmp)
{
    if (strlen(tmp) >= TEMPFILE_MAX) return;
    pthread_mutex_lock(&guard_lock);
    for (int i = 0; i < TEMPFILE_GUARDED; i++)
        if (!guarded_used[i]) {
            strcpy(guarded[i], tmp);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            guarded_used[i] = 1;
            break;
        }
    pthread_mutex_unlock(&guard_lock);
}

static void unguard(const char *tmp)
{
    pthread_mutex_lock(&guard_lock);
    for (int i = 0; i < TEMPFILE_GUARDED; i++)
        if (guarded_used[i] && strcmp(guarded[i], tmp) == 0) {
            guarded_used[i] = 0;
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            break;
        }
    pthread_mutex_unlock(&guard_lock);
}

static void remove_and_die(int sig)
{
    for (int i = 0; i < TEMPFILE_GUARDED; i++)
        if (guarded_used[i]) unlink(guarded[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void tempfile_remove_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* nohup */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = remove_and_die;
        sigfillset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---------------------------------------------------------------- stale temporaries */
static int process_alive(long pid)
{
    if (pid <= 0 || (pid_t)pid != pid) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* The PID of "<prefix>...tmp.<digits>", or -1 for any other name. */
static long temp_owner(const char *name, const char *prefix)
{
    size_t np = strlen(prefix), n = strlen(name);
    if (n <= np || strncmp(name, prefix, np) != 0) return -1;
    const char *tail = strstr(name + np, ".tmp.");
    if (!tail) return -1;
    while (strstr(tail + 1, ".tmp.")) tail = strstr(tail + 1, ".tmp.");
    const char *digits = tail + 5;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9) return -1;
    return strtol(digits, NULL, 10);
}

int tempfile_clean_stale(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir[0] ? dir : ".");
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = temp_owner(e->d_name, prefix);
        if (pid < 0 || process_alive(pid)) continue;
        char path[TEMPFILE_MAX];
        if (snprintf(path, sizeof path, "%s%s%s", dir, dir[0] ? "/" : "", e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

/* ---------------------------------------------------------------- write, commit */
/* path's folder ("" for the current one) into dir[size]; returns the base name's offset. */
static size_t split_dir(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0) n = 1; /* "/file": the root */
    if (n >= size) n = size - 1;
    memcpy(dir, path, n);
    dir[n] = 0;
    return slash ? (size_t)(slash - path) + 1 : 0;
}

int tempfile_begin(const char *path, char *tmp, size_t size)
{
    int n = snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= size) return error_set("%s: the name is too long", path);
    char dir[TEMPFILE_MAX], prefix[TEMPFILE_MAX];
    const char *base = path + split_dir(path, dir, sizeof dir);
    size_t stem = strcspn(base, ".");
    snprintf(prefix, sizeof prefix, "%.*s.", (int)stem, base);
    tempfile_clean_stale(dir, prefix);
    guard(tmp);
    return 0;
}

void tempfile_discard(const char *tmp)
{
    unlink(tmp);
    unguard(tmp);
}

int tempfile_commit(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY);
    if (fd < 0 || fsync(fd) < 0) {
        error_set("%s: cannot sync %s:", path, tmp);
        if (fd >= 0) close(fd);
        tempfile_discard(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        error_set("%s: cannot rename %s into place:", path, tmp);
        tempfile_discard(tmp);
        return -1;
    }
    unguard(tmp);
    /* the rename itself on disk: a power cut after this returns keeps the new file */
    char dir[TEMPFILE_MAX];
    split_dir(path, dir, sizeof dir);
    int dfd = open(dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: some file systems refuse to sync a folder */
        close(dfd);
    }
    return 0;
}
