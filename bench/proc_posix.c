/*
 * Child processes for sluice-bench and the tests (proc.h), POSIX:
 * posix_spawn, wait4 for the exit status and resource usage, SIGKILL.
 * Bench-only: it is not part of the OS layer the producer library and
 * the collector share.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "err.h"
#include "os.h" /* sl_err_from_errno */

extern char **environ;

struct sl_proc {
    pid_t pid;
};

int
sl_proc_spawn(const char *const *argv, const char *stdout_path, sl_proc **out)
{
    posix_spawn_file_actions_t fa;
    sl_proc *p = malloc(sizeof(*p));
    int rc;

    if (p == NULL)
        return SL_ENOMEM;
    posix_spawn_file_actions_init(&fa);
    if (stdout_path != NULL)
        posix_spawn_file_actions_addopen(&fa, 1, stdout_path,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
    rc = posix_spawn(&p->pid, argv[0], &fa, NULL, (char *const *)argv,
                     environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        free(p);
        return sl_err_from_errno(rc);
    }
    *out = p;
    return 0;
}

int
sl_proc_wait(sl_proc *p, int *status, sl_proc_usage *usage)
{
    struct rusage ru;
    int st;

    while (wait4(p->pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) {
            int rc = sl_err_from_errno(errno);
            free(p);
            return rc;
        }
    }
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (usage != NULL) {
        usage->cpu_seconds = (double)ru.ru_utime.tv_sec +
                             (double)ru.ru_utime.tv_usec / 1e6 +
                             (double)ru.ru_stime.tv_sec +
                             (double)ru.ru_stime.tv_usec / 1e6;
        usage->max_rss = (uint64_t)ru.ru_maxrss * 1024u; /* KiB on Linux */
    }
    free(p);
    return 0;
}

void
sl_proc_kill(sl_proc *p)
{
    kill(p->pid, SIGKILL);
}
