/*
 * Tests of the Win32 OS layer (os/os_win.c), run under Wine by
 * ctest: error translation, pipe path mapping, the capture file's create/
 * write/sync path (UTF-8 names, refusing an existing file without force),
 * clocks, threads, locks and condition variables, child processes (the
 * command-line quoting that must survive the C runtime's parser) and pipe
 * probing for sluice-bench, and the stop request, including a real
 * console control event delivered to a child process.
 */
#include "os.h"
#include "proc.h"

#include <shellapi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "win_test.h"

/* ---- error translation and pipe names --------------------------------- */

static void
test_errors(void)
{
    CASE("sl_err_from_win32 maps the errors the backends meet");
    CHECK(sl_err_from_win32(ERROR_SUCCESS) == 0);
    CHECK(sl_err_from_win32(ERROR_FILE_NOT_FOUND) == SL_ENOENT);
    CHECK(sl_err_from_win32(ERROR_PATH_NOT_FOUND) == SL_ENOENT);
    CHECK(sl_err_from_win32(ERROR_PIPE_BUSY) == SL_EAGAIN);
    CHECK(sl_err_from_win32(ERROR_BROKEN_PIPE) == SL_EPIPE);
    CHECK(sl_err_from_win32(ERROR_NO_DATA) == SL_EPIPE);
    CHECK(sl_err_from_win32(ERROR_PIPE_NOT_CONNECTED) == SL_EPIPE);
    CHECK(sl_err_from_win32(ERROR_ACCESS_DENIED) == SL_EACCES);
    CHECK(sl_err_from_win32(ERROR_DISK_FULL) == SL_ENOSPC);
    CHECK(sl_err_from_win32(ERROR_HANDLE_DISK_FULL) == SL_ENOSPC);
    CHECK(sl_err_from_win32(ERROR_OPERATION_ABORTED) == SL_ECANCELED);
    CHECK(sl_err_from_win32(ERROR_ALREADY_EXISTS) == SL_EEXIST);
    CHECK(sl_err_from_win32(ERROR_FILE_EXISTS) == SL_EEXIST);
    CHECK(sl_err_from_win32(ERROR_NOT_ENOUGH_MEMORY) == SL_ENOMEM);
    CHECK(sl_err_from_win32(ERROR_SEM_TIMEOUT) == SL_ETIMEDOUT);
    CHECK(sl_err_from_win32(ERROR_INVALID_PARAMETER) == SL_EINVAL);
    CHECK(sl_err_from_win32(ERROR_FILE_TOO_LARGE) == SL_EFBIG);
    CHECK(sl_err_from_win32(0xDEADu) == SL_EUNKNOWN);
}

static void
test_pipe_path(void)
{
    char out[64];
    size_t len = 0;

    CASE("pipe NAME maps to \\\\.\\pipe\\NAME");
    CHECK_OK(sl_os_pipe_path("sluice", 6, out, sizeof(out), &len));
    CHECK(strcmp(out, "\\\\.\\pipe\\sluice") == 0);
    CHECK(len == strlen(out));

    CASE("a NAME starting with \\\\ is used as is");
    CHECK_OK(sl_os_pipe_path("\\\\host\\pipe\\x", 13, out, sizeof(out),
                             &len));
    CHECK(strcmp(out, "\\\\host\\pipe\\x") == 0);
    CHECK(len == 13);

    CASE("the name need not be NUL-terminated");
    CHECK_OK(sl_os_pipe_path("abcdef", 3, out, sizeof(out), NULL));
    CHECK(strcmp(out, "\\\\.\\pipe\\abc") == 0);

    CASE("a single backslash is part of a short name");
    CHECK_OK(sl_os_pipe_path("\\x", 2, out, sizeof(out), &len));
    CHECK(strcmp(out, "\\\\.\\pipe\\\\x") == 0);

    CASE("empty names and names with NUL are refused");
    CHECK_EQ_RC(sl_os_pipe_path("", 0, out, sizeof(out), &len), SL_EINVAL);
    CHECK_EQ_RC(sl_os_pipe_path("a\0b", 3, out, sizeof(out), &len),
                SL_EINVAL);

    CASE("a path that does not fit cap is refused; an exact fit is not");
    /* "\\.\pipe\" is 9 bytes, plus 3 for the name and 1 for the NUL. */
    CHECK_EQ_RC(sl_os_pipe_path("abc", 3, out, 12, &len), SL_ENAMETOOLONG);
    CHECK_OK(sl_os_pipe_path("abc", 3, out, 13, &len));
    CHECK(len == 12);
}

/* ---- files --------------------------------------------------------------- */

/* The temporary directory as UTF-8, with a trailing backslash. */
static void
temp_dir(char *buf, size_t cap)
{
    wchar_t w[MAX_PATH + 1];
    DWORD n = GetTempPathW(MAX_PATH + 1, w);

    CHECK(n > 0 && n <= MAX_PATH);
    CHECK(WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)cap, NULL,
                              NULL) > 0);
}

/* Reads the whole file at a UTF-8 path into buf. @return its size. */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
    wchar_t w[MAX_PATH + 1];
    HANDLE h;
    DWORD got = 0;

    CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, w, MAX_PATH + 1) > 0);
    h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                    NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(ReadFile(h, buf, (DWORD)cap, &got, NULL));
    CloseHandle(h);
    return got;
}

static void
remove_utf8(const char *path)
{
    wchar_t w[MAX_PATH + 1];

    CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, w, MAX_PATH + 1) > 0);
    DeleteFileW(w);
}

/* sl_os_list_dir() callback: counts entries named ctx->want. */
typedef struct list_seen {
    const char *want;
    int seen, dots;
} list_seen;

static void
list_one(void *ctx, const char *name)
{
    list_seen *ls = ctx;

    if (strcmp(name, ls->want) == 0)
        ls->seen++;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        ls->dots++;
}

static void
test_files(void)
{
    char dir[MAX_PATH * 3], path[MAX_PATH * 3], missing[MAX_PATH * 3];
    char back[64];
    sl_file *f = NULL, *g = NULL;
    sl_iovec iov[4] = {
        {"head-", 5},
        {"", 0},
        {"middle-", 7},
        {"tail", 4},
    };

    temp_dir(dir, sizeof(dir));
    /* U+00E9 and U+6C34: the UTF-8 to UTF-16 conversion must be real. */
    snprintf(path, sizeof(path), "%ssluice-os-\xC3\xA9\xE6\xB0\xB4-%lu.cap",
             dir, (unsigned long)GetCurrentProcessId());
    snprintf(missing, sizeof(missing), "%sno-such-dir-%lu\\x.cap", dir,
             (unsigned long)GetCurrentProcessId());
    remove_utf8(path);

    CASE("file_create makes a new file at a UTF-8 path");
    CHECK_OK(sl_os_file_create(path, 0, &f));
    CASE("file_writev writes every vector in order, skipping empty ones");
    CHECK_OK(sl_os_file_writev(f, iov, 4));
    CHECK_OK(sl_os_file_writev(f, iov, 0));
    CHECK_OK(sl_os_file_sync(f));
    CASE("readers may open the file while it is being written");
    CHECK(slurp(path, back, sizeof(back)) == 16);
    CHECK_OK(sl_os_file_close(f));
    CHECK(memcmp(back, "head-middle-tail", 16) == 0);

    CASE("a second file_create on a file being written is SL_ELOCKED, "
         "even with force, and leaves it whole; writer_alive says so");
    CHECK_OK(sl_os_file_create(path, 1, &f));
    CHECK_OK(sl_os_file_writev(f, iov, 4));
    CHECK(sl_os_file_writer_alive(path) == 1);
    CHECK_EQ_RC(sl_os_file_create(path, 1, &g), SL_ELOCKED);
    CHECK(slurp(path, back, sizeof(back)) == 16);
    CHECK_OK(sl_os_file_close(f));
    CHECK(sl_os_file_writer_alive(path) == 0);

    CASE("file_create refuses an existing file without force");
    CHECK_EQ_RC(sl_os_file_create(path, 0, &g), SL_EEXIST);
    CHECK(slurp(path, back, sizeof(back)) == 16);

    CASE("file_create with force truncates it");
    CHECK_OK(sl_os_file_create(path, 1, &g));
    CHECK_OK(sl_os_file_writev(g, iov + 3, 1));
    CHECK_OK(sl_os_file_close(g));
    CHECK(slurp(path, back, sizeof(back)) == 4);
    CHECK(memcmp(back, "tail", 4) == 0);

    CASE("file_create in a missing directory gives SL_ENOENT");
    CHECK_EQ_RC(sl_os_file_create(missing, 0, &g), SL_ENOENT);

    CASE("file_create refuses a path that is not UTF-8");
    CHECK_EQ_RC(sl_os_file_create("bad-\xFF-name.cap", 0, &g), SL_EINVAL);

    CASE("list_dir names a UTF-8 file once, without . and .., with or "
         "without a trailing backslash; a missing directory is an error");
    {
        list_seen ls = {path + strlen(dir), 0, 0};
        char nodir[MAX_PATH * 3];

        CHECK_OK(sl_os_list_dir(dir, list_one, &ls));
        CHECK(ls.seen == 1 && ls.dots == 0);
        dir[strlen(dir) - 1] = '\0'; /* the trailing backslash */
        ls.seen = 0;
        CHECK_OK(sl_os_list_dir(dir, list_one, &ls));
        CHECK(ls.seen == 1 && ls.dots == 0);
        strcat(dir, "\\");
        snprintf(nodir, sizeof(nodir), "%sno-such-dir-%lu", dir,
                 (unsigned long)GetCurrentProcessId());
        CHECK(sl_os_list_dir(nodir, list_one, &ls) != 0);
    }

    CASE("file_close(NULL) is a no-op");
    CHECK(sl_os_file_close(NULL) == 0);
    remove_utf8(path);
}

/* ---- clocks and identity --------------------------------------------- */

static void
test_clocks(void)
{
    uint64_t prev = sl_os_mono_ns(), t0, t1, wall;
    char host[256], small[3];
    size_t n;

    CASE("the monotonic clock never goes backwards");
    for (int i = 0; i < 100000; i++) {
        uint64_t now = sl_os_mono_ns();

        CHECK(now >= prev);
        prev = now;
    }

    CASE("sleep_ns sleeps at least as long as asked");
    t0 = sl_os_mono_ns();
    sl_os_sleep_ns(20u * 1000000u);
    t1 = sl_os_mono_ns();
    CHECK(t1 - t0 >= 20u * 1000000u);
    t0 = sl_os_mono_ns();
    sl_os_sleep_ns(300u * 1000u);
    CHECK(sl_os_mono_ns() - t0 >= 300u * 1000u);
    sl_os_sleep_ns(0);
    sl_os_yield();

    CASE("the wall clock is Unix time in nanoseconds");
    wall = sl_os_now_ns();
    CHECK(wall / 1000000000u + 5 >= (uint64_t)time(NULL));
    CHECK(wall / 1000000000u <= (uint64_t)time(NULL) + 5);

    CASE("identity: cpus, pid, host name");
    CHECK(sl_os_cpu_count() >= 1);
    CHECK(sl_os_pid() == GetCurrentProcessId());
    n = sl_os_hostname(host, sizeof(host));
    CHECK(n > 0 && n == strlen(host));
    n = sl_os_hostname(small, sizeof(small));
    CHECK(n <= 2 && small[n] == '\0');
    CHECK(sl_os_hostname(small, 0) == 0);
    CHECK(sl_os_isatty(1) == 0 || sl_os_isatty(1) == 1);
}

/* ---- threads, locks, condition variables ------------------------------ */

typedef struct shared {
    sl_mutex m;
    sl_cond c;
    uint64_t counter;
    int ready;
    int acked;
} shared;

static void
add_many(void *arg)
{
    shared *s = arg;

    for (int i = 0; i < 100000; i++) {
        sl_mutex_lock(&s->m);
        s->counter++;
        sl_mutex_unlock(&s->m);
    }
}

static void
wait_ready(void *arg)
{
    shared *s = arg;

    sl_mutex_lock(&s->m);
    while (!s->ready)
        sl_cond_timedwait(&s->c, &s->m, 5000u * 1000000ull);
    s->acked = 1;
    sl_cond_broadcast(&s->c);
    sl_mutex_unlock(&s->m);
}

static void
test_threads(void)
{
    sl_thread *t[4];
    shared s;
    uint64_t t0;

    memset(&s, 0, sizeof(s));
    sl_mutex_init(&s.m);
    sl_cond_init(&s.c);

    CASE("threads run, join, and the mutex excludes");
    for (int i = 0; i < 4; i++)
        CHECK_OK(sl_os_thread_start(add_many, &s, &t[i]));
    for (int i = 0; i < 4; i++)
        sl_os_thread_join(t[i]);
    CHECK(s.counter == 400000);
    sl_os_thread_join(NULL);

    CASE("cond_timedwait times out after at least the timeout");
    sl_mutex_lock(&s.m);
    t0 = sl_os_mono_ns();
    CHECK_EQ_RC(sl_cond_timedwait(&s.c, &s.m, 30u * 1000000u), SL_ETIMEDOUT);
    CHECK(sl_os_mono_ns() - t0 >= 30u * 1000000u);
    sl_mutex_unlock(&s.m);

    CASE("cond_signal/broadcast wake a waiting thread");
    CHECK_OK(sl_os_thread_start(wait_ready, &s, &t[0]));
    sl_os_sleep_ns(10u * 1000000u);
    sl_mutex_lock(&s.m);
    s.ready = 1;
    sl_cond_signal(&s.c);
    t0 = sl_os_mono_ns();
    while (!s.acked)
        CHECK(sl_cond_timedwait(&s.c, &s.m, 5000u * 1000000ull) == 0 ||
              sl_os_mono_ns() - t0 < 5000u * 1000000ull);
    sl_mutex_unlock(&s.m);
    sl_os_thread_join(t[0]);
    sl_cond_destroy(&s.c);
    sl_mutex_destroy(&s.m);
}

/* ---- child processes and pipe probing -------------------------------- */

/* Arguments that need every quoting rule of the C runtime's parser. */
static const char *const tricky_args[] = {
    "plain", "two words", "", "quote\"inside", "trailing\\",
    "back\\slash\\\"quote", "tab\there", "\xC3\xA9t\xC3\xA9", NULL,
};

/*
 * Child: prints its arguments one per line as UTF-8, then exits with
 * argv[2]. The C runtime hands main() its arguments in the ANSI code page,
 * so the UTF-8 text comes from the UTF-16 command line; the runtime's own
 * parse must agree on every ASCII argument (exit 99 if not).
 */
static int
child_echo(int argc, char **argv)
{
    int wargc = 0;
    wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &wargc);

    if (wargv == NULL || wargc != argc)
        return 98;
    for (int i = 3; i < argc; i++) {
        char u[256];
        int ascii = 1;

        if (WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, u, sizeof(u), NULL,
                                NULL) <= 0)
            return 97;
        for (const char *c = u; *c != '\0'; c++)
            ascii &= (unsigned char)*c < 0x80;
        if (ascii && strcmp(u, argv[i]) != 0)
            return 99;
        printf("[%s]\n", u);
    }
    LocalFree(wargv);
    return atoi(argv[2]);
}

static void
test_processes(void)
{
    char dir[MAX_PATH * 3], self[MAX_PATH * 3], out_path[MAX_PATH * 3];
    char want[512], got[512];
    const char *argv[16];
    wchar_t wself[MAX_PATH + 1];
    size_t k = 0, n = 0;
    sl_proc *p = NULL;
    sl_proc_usage usage;
    int status = -1;

    CASE("exe_dir is the directory of this program");
    CHECK_OK(sl_os_exe_dir(dir, sizeof(dir)));
    CHECK(GetModuleFileNameW(NULL, wself, MAX_PATH + 1) > 0);
    CHECK(WideCharToMultiByte(CP_UTF8, 0, wself, -1, self, sizeof(self),
                              NULL, NULL) > 0);
    CHECK(strncmp(self, dir, strlen(dir)) == 0);
    CHECK(self[strlen(dir)] == '\\');
    CHECK(strchr(self + strlen(dir) + 1, '\\') == NULL);

    CASE("spawn passes every argument through unchanged; stdout to a file");
    temp_dir(out_path, sizeof(out_path));
    snprintf(out_path + strlen(out_path), sizeof(out_path) - strlen(out_path),
             "sluice-os-spawn-%lu.out", (unsigned long)GetCurrentProcessId());
    argv[k++] = self;
    argv[k++] = "--child-echo";
    argv[k++] = "7";
    for (size_t i = 0; tricky_args[i] != NULL; i++) {
        argv[k++] = tricky_args[i];
        n += (size_t)snprintf(want + n, sizeof(want) - n, "[%s]\r\n",
                              tricky_args[i]);
    }
    argv[k] = NULL;
    CHECK_OK(sl_proc_spawn(argv, out_path, &p));
    CHECK_OK(sl_proc_wait(p, &status, &usage));
    CHECK(status == 7);
    CHECK(usage.cpu_seconds >= 0.0);
    n = slurp(out_path, got, sizeof(got) - 1);
    got[n] = '\0';
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "child printed:\n%s\nwanted:\n%s\n", got, want);
        CHECK(!"arguments changed on the way to the child");
    }
    remove_utf8(out_path);

    CASE("proc_kill ends a child; its status reads as killed (137)");
    argv[0] = self;
    argv[1] = "--child-sleep";
    argv[2] = NULL;
    CHECK_OK(sl_proc_spawn(argv, "NUL", &p));
    sl_proc_kill(p);
    CHECK_OK(sl_proc_wait(p, &status, NULL));
    CHECK(status == 137);

    CASE("spawn of a missing program gives SL_ENOENT");
    argv[0] = "C:\\no\\such\\program.exe";
    argv[1] = NULL;
    CHECK_EQ_RC(sl_proc_spawn(argv, NULL, &p), SL_ENOENT);
}

static void
test_pipe_ready(void)
{
    char name[64], path[128];
    wchar_t wpath[128];
    HANDLE h;

    CASE("pipe_ready sees a pipe without taking its instance");
    snprintf(name, sizeof(name), "sluice-test-ready-%lu",
             (unsigned long)GetCurrentProcessId());
    CHECK_OK(sl_os_pipe_path(name, strlen(name), path, sizeof(path), NULL));
    CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 128) > 0);
    CHECK(sl_os_pipe_ready(path) == 0);
    h = CreateNamedPipeW(wpath, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 4096,
                         4096, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    CHECK(sl_os_pipe_ready(path) == 1);
    CHECK(sl_os_pipe_ready(path) == 1); /* the instance is still free */
    CloseHandle(h);
    CHECK(sl_os_pipe_ready(path) == 0);
}

/* ---- stop requests ------------------------------------------------------ */

static void
request_later(void *arg)
{
    (void)arg;
    sl_os_sleep_ns(50u * 1000000u);
    sl_os_stop_request();
}

/* The parent's handler while a child raises console events: Ctrl-C and
 * Ctrl-Break go to every process on the console, this one included. */
static BOOL WINAPI
swallow_ctrl(DWORD type)
{
    return type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT;
}

/* Runs this program again with one argument; @return its exit code. */
static DWORD
run_self(const wchar_t *arg)
{
    wchar_t exe[MAX_PATH + 1], cmd[2 * MAX_PATH + 64];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 1;

    CHECK(GetModuleFileNameW(NULL, exe, MAX_PATH + 1) > 0);
    CHECK(wcslen(exe) + wcslen(arg) + 4 < sizeof(cmd) / sizeof(cmd[0]));
    wcscpy(cmd, L"\"");
    wcscat(cmd, exe);
    wcscat(cmd, L"\" ");
    wcscat(cmd, arg);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    CHECK(CreateProcessW(exe, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si,
                         &pi));
    CHECK(WaitForSingleObject(pi.hProcess, 20000) == WAIT_OBJECT_0);
    CHECK(GetExitCodeProcess(pi.hProcess, &code));
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return code;
}

/* Child: a console control event must reach the stop handler. */
static int
child_ctrl(DWORD event)
{
    if (sl_os_stop_install() != 0)
        return T_EXIT_FAIL;
    if (sl_os_stop_wait(0))
        return T_EXIT_FAIL;
    if (!GenerateConsoleCtrlEvent(event, 0)) {
        fprintf(stderr, "GenerateConsoleCtrlEvent: error %lu\n",
                (unsigned long)GetLastError());
        return T_EXIT_SKIP;
    }
    return sl_os_stop_wait(5000u * 1000000ull) == 1 ? T_EXIT_PASS
                                                    : T_EXIT_FAIL;
}

static void
test_stop(void)
{
    sl_thread *t;
    uint64_t t0;
    DWORD code;

    CASE("stop_wait times out when nobody asks for a stop");
    CHECK(sl_os_stop_wait(0) == 0);
    t0 = sl_os_mono_ns();
    CHECK(sl_os_stop_wait(20u * 1000000u) == 0);
    CHECK(sl_os_mono_ns() - t0 >= 20u * 1000000u);

    CASE("Ctrl-C and Ctrl-Break reach the stop handler");
    CHECK(SetConsoleCtrlHandler(swallow_ctrl, TRUE));
    code = run_self(L"--child-ctrl-c");
    if (code == T_EXIT_SKIP)
        printf("  (no console to deliver Ctrl-C to: not checked)\n");
    else
        CHECK(code == T_EXIT_PASS);
    code = run_self(L"--child-ctrl-break");
    if (code == T_EXIT_SKIP)
        printf("  (no console to deliver Ctrl-Break to: not checked)\n");
    else
        CHECK(code == T_EXIT_PASS);
    CHECK(SetConsoleCtrlHandler(swallow_ctrl, FALSE));

    CASE("stop_install is idempotent; stop_request wakes stop_wait");
    CHECK_OK(sl_os_stop_install());
    CHECK_OK(sl_os_stop_install());
    CHECK_OK(sl_os_thread_start(request_later, NULL, &t));
    t0 = sl_os_mono_ns();
    CHECK(sl_os_stop_wait(10000u * 1000000ull) == 1);
    CHECK(sl_os_mono_ns() - t0 < 5000u * 1000000ull);
    sl_os_thread_join(t);
    CHECK(sl_os_stop_wait(0) == 1);
    CASE("once requested, every later stop_wait returns at once");
    CHECK(sl_os_stop_wait(10000u * 1000000ull) == 1);
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--child-ctrl-c") == 0)
        return child_ctrl(CTRL_C_EVENT);
    if (argc == 2 && strcmp(argv[1], "--child-ctrl-break") == 0)
        return child_ctrl(CTRL_BREAK_EVENT);
    if (argc >= 3 && strcmp(argv[1], "--child-echo") == 0)
        return child_echo(argc, argv);
    if (argc == 2 && strcmp(argv[1], "--child-sleep") == 0) {
        Sleep(30000);
        return T_EXIT_FAIL;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    test_errors();
    test_pipe_path();
    test_files();
    test_clocks();
    test_threads();
    test_processes();
    test_pipe_ready();
    test_stop();
    printf("test_os_win: all passed\n");
    return T_EXIT_PASS;
}
