/*
 * Child processes: what sluice-bench (and the Windows OS test) needs to
 * start the collector and the producers, wait for them and read their
 * resource usage. Deliberately outside os/, which the producer library
 * ships: no product code spawns processes. proc_posix.c and proc_win.c
 * implement it (library sluice_proc).
 */
#ifndef SL_PROC_H
#define SL_PROC_H

#include <stdint.h>

typedef struct sl_proc sl_proc;

/**
 * Starts argv[0] with arguments argv (NULL-terminated; argv[0] is a path).
 * @param stdout_path  File that receives the child's stdout (created or
 *                     truncated), or NULL to share ours.
 * @return 0, SL_ENOENT, SL_EACCES, SL_ENOMEM, SL_EAGAIN.
 */
int sl_proc_spawn(const char *const *argv, const char *stdout_path,
                  sl_proc **out);
/** What an ended child used. Zero where the platform does not tell. */
typedef struct sl_proc_usage {
    double cpu_seconds;  /* user + system */
    uint64_t max_rss;    /* peak resident set, bytes */
} sl_proc_usage;

/**
 * Waits for the child to end and frees p.
 * @param status  Receives its exit code, or 128 + signal number if killed.
 * @param usage   Receives its resource usage (may be NULL).
 */
int sl_proc_wait(sl_proc *p, int *status, sl_proc_usage *usage);
/** Ends the child forcibly (SIGKILL / TerminateProcess); still wait. */
void sl_proc_kill(sl_proc *p);

#endif
