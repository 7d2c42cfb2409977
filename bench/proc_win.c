/*
 * Child processes for sluice-bench and the tests (proc.h), Win32:
 * CreateProcessW with a command line quoted for the C runtime's argv
 * parser, explicit inheritable standard handles, GetProcessTimes and the
 * peak working set. Bench-only: not part of the shared OS layer.
 */
#include "proc.h"

#include "os.h" /* windows.h, sl_os_utf8_to_wide */

#include <psapi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
struct sl_proc {
    HANDLE process;
};

/* Exit code given to a child ended by sl_proc_kill(): 128 + SIGKILL,
 * what the POSIX side reports for a killed child. */
#define KILLED_EXIT_CODE 137u

/*
 * Appends one argument to a command line, quoted so that the C runtime's
 * CommandLineToArgvW rules give it back unchanged: backslashes are literal
 * except before a quote, where they are doubled, and a quote is escaped.
 * @return the new length, or SIZE_MAX if cap is too small.
 */
static size_t
cmdline_append(char *buf, size_t len, size_t cap, const char *arg)
{
    int quote = arg[0] == '\0' || strpbrk(arg, " \t\n\v\"") != NULL;

#define PUT(ch)                                                               \
    do {                                                                      \
        if (len + 1 >= cap)                                                   \
            return SIZE_MAX;                                                  \
        buf[len++] = (ch);                                                    \
    } while (0)

    if (len > 0)
        PUT(' ');
    if (!quote) {
        for (const char *p = arg; *p != '\0'; p++)
            PUT(*p);
        buf[len] = '\0';
        return len;
    }
    PUT('"');
    for (const char *p = arg;; p++) {
        size_t slashes = 0;

        while (*p == '\\') {
            slashes++;
            p++;
        }
        if (*p == '\0') {
            /* Before the closing quote every backslash is doubled. */
            for (size_t i = 0; i < 2 * slashes; i++)
                PUT('\\');
            break;
        }
        if (*p == '"') {
            for (size_t i = 0; i < 2 * slashes + 1; i++)
                PUT('\\');
        } else {
            for (size_t i = 0; i < slashes; i++)
                PUT('\\');
        }
        PUT(*p);
    }
    PUT('"');
#undef PUT
    buf[len] = '\0';
    return len;
}

/* An inheritable duplicate of h for a child (NULL stays NULL). */
static int
inheritable(HANDLE h, HANDLE *out)
{
    *out = NULL;
    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return 0;
    if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), out, 0,
                         TRUE, DUPLICATE_SAME_ACCESS))
        return sl_err_from_win32(GetLastError());
    return 0;
}

int
sl_proc_spawn(const char *const *argv, const char *stdout_path, sl_proc **out)
{
    char cmd[32768];
    wchar_t *wcmd = NULL, *wout = NULL;
    HANDLE in = NULL, outh = NULL, err = NULL;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    size_t len = 0;
    sl_proc *p;
    int rc;

    cmd[0] = '\0';
    for (size_t i = 0; argv[i] != NULL; i++) {
        len = cmdline_append(cmd, len, sizeof(cmd), argv[i]);
        if (len == SIZE_MAX)
            return SL_ENAMETOOLONG;
    }
    p = malloc(sizeof(*p));
    if (p == NULL)
        return SL_ENOMEM;
    rc = sl_os_utf8_to_wide(cmd, &wcmd);
    if (rc != 0)
        goto free_proc;
    /* The child gets explicit standard handles: inheritable duplicates of
     * ours, or the output file ("NUL" works as the null device). */
    rc = inheritable(GetStdHandle(STD_INPUT_HANDLE), &in);
    if (rc == 0)
        rc = inheritable(GetStdHandle(STD_ERROR_HANDLE), &err);
    if (rc != 0)
        goto close_handles;
    if (stdout_path != NULL) {
        SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};

        rc = sl_os_utf8_to_wide(stdout_path, &wout);
        if (rc != 0)
            goto close_handles;
        outh = CreateFileW(wout, GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                           CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (outh == INVALID_HANDLE_VALUE) {
            outh = NULL;
            rc = sl_err_from_win32(GetLastError());
            goto close_handles;
        }
    } else {
        rc = inheritable(GetStdHandle(STD_OUTPUT_HANDLE), &outh);
        if (rc != 0)
            goto close_handles;
    }
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in;
    si.hStdOutput = outh;
    si.hStdError = err;
    /* No application name: the first token is looked up the usual way,
     * ".exe" appended when it has no extension. bInheritHandles passes
     * every inheritable handle; this layer creates none except the three
     * above, but two threads spawning at once could hand each other's
     * standard handles to their children (sluice-bench spawns from one
     * thread). */
    if (!CreateProcessW(NULL, wcmd, NULL, NULL, TRUE, 0, NULL, NULL, &si,
                        &pi)) {
        rc = sl_err_from_win32(GetLastError());
        goto close_handles;
    }
    CloseHandle(pi.hThread);
    p->process = pi.hProcess;
    *out = p;
    p = NULL;

close_handles:
    if (outh != NULL)
        CloseHandle(outh);
    if (err != NULL)
        CloseHandle(err);
    if (in != NULL)
        CloseHandle(in);
    free(wout);
    free(wcmd);
free_proc:
    free(p);
    return rc;
}

int
sl_proc_wait(sl_proc *p, int *status, sl_proc_usage *usage)
{
    DWORD code = 0;
    int rc = 0;

    if (WaitForSingleObject(p->process, INFINITE) != WAIT_OBJECT_0 ||
        !GetExitCodeProcess(p->process, &code)) {
        rc = sl_err_from_win32(GetLastError());
        goto done;
    }
    *status = (int)code;
    if (usage != NULL) {
        FILETIME created, exited, kernel, user;
        PROCESS_MEMORY_COUNTERS pmc;

        memset(usage, 0, sizeof(*usage));
        if (GetProcessTimes(p->process, &created, &exited, &kernel, &user)) {
            uint64_t k = (uint64_t)kernel.dwHighDateTime << 32 |
                         kernel.dwLowDateTime;
            uint64_t u = (uint64_t)user.dwHighDateTime << 32 |
                         user.dwLowDateTime;

            usage->cpu_seconds = (double)(k + u) / 1e7; /* 100 ns units */
        }
        memset(&pmc, 0, sizeof(pmc));
        pmc.cb = sizeof(pmc);
        if (GetProcessMemoryInfo(p->process, &pmc, sizeof(pmc)))
            usage->max_rss = pmc.PeakWorkingSetSize;
    }

done:
    CloseHandle(p->process);
    free(p);
    return rc;
}

void
sl_proc_kill(sl_proc *p)
{
    TerminateProcess(p->process, KILLED_EXIT_CODE);
}
