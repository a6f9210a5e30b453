/* tempfile.h — files written under a temporary name beside their final one and renamed into
 * place, so that the final name only ever holds a complete file: after a failure, a kill -9 or a
 * power cut a reader finds the previous file or the new one, never a part of one.
 *
 * The temporary of PATH is "PATH.tmp.PID", PID the writer's process id. tempfile_begin() names
 * it and first removes the temporaries of writers that are no longer alive (a writer killed with
 * SIGKILL cannot remove its own); tempfile_commit() syncs the file, renames it over PATH and syncs
 * the folder; tempfile_discard() removes it.
 *
 *   char tmp[TEMPFILE_MAX];
 *   if (tempfile_begin(path, tmp, sizeof tmp) < 0) return -1;
 *   FILE *fp = fopen(tmp, "wb");  ...write, check, fclose...
 *   if (failed) tempfile_discard(tmp); else if (tempfile_commit(tmp, path) < 0) return -1;
 *
 * A tool that calls tempfile_remove_on_signals() once at start removes every temporary between
 * tempfile_begin and commit/discard when SIGINT, SIGTERM or SIGHUP arrives, then dies of the
 * signal (a signal the tool's parent set to be ignored stays ignored). Up to TEMPFILE_GUARDED
 * temporaries are tracked at a time.
 *
 * Functions return 0, or -1 with error_set naming the file. */
#ifndef ILT_UTIL_TEMPFILE_H
#define ILT_UTIL_TEMPFILE_H

#include <stddef.h>

#define TEMPFILE_MAX 4200
#define TEMPFILE_GUARDED 8

/* Name PATH's temporary into tmp[size], remove stale temporaries (tempfile_clean_stale with
 * PATH's base name up to its first dot as the prefix: "ckpt.h5" also cleans "ckpt.best.h5.tmp.N")
 * and track the temporary for tempfile_remove_on_signals. Creates nothing. */
int tempfile_begin(const char *path, char *tmp, size_t size);
/* fsync tmp, rename it to path, fsync path's folder, stop tracking. On failure tmp is removed. */
int tempfile_commit(const char *tmp, const char *path);
/* Remove tmp (if it exists) and stop tracking it. */
void tempfile_discard(const char *tmp);
/* Remove, in folder dir, every "<prefix>*.tmp.<pid>" whose process is not alive; returns how
 * many were removed. A live process's temporary (another writer now) is left alone. */
int tempfile_clean_stale(const char *dir, const char *prefix);
/* Install the handlers described above; call once from main(). */
void tempfile_remove_on_signals(void);

#endif
