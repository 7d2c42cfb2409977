/*
 * The IOCP named-pipe backend (collector/io/iocp.c) under Wine: the io.h
 * contract test body of tests/io/ (io_contract.c, the same cases the
 * Linux backends run under Criterion) on sl_io_iocp, with Win32 clients
 * (io_client_win.c), and then what only IOCP has: configuration checks
 * and the pipe's DACL. A plain program (0 pass, 1 fail, 77 skip), since
 * Criterion does not run here.
 */
#include "io.h"
#include "io_contract.h"
#include "os.h"

#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "win_test.h"

static const sl_io_backend *be = &sl_io_iocp;

void
ioc_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    fflush(stderr);
    exit(T_EXIT_FAIL);
}

void
ioc_skip(const char *why)
{
    printf("skip: %s\n", why);
    exit(T_EXIT_SKIP);
}

/* A fresh pipe name per server, so no case sees another's instances. */
void
ioc_new_path(char *out, size_t cap)
{
    static unsigned seq;
    char name[64];
    size_t len;

    snprintf(name, sizeof(name), "sluice-test-iocp-%lu-%u",
             (unsigned long)GetCurrentProcessId(), seq++);
    CHECK_OK(sl_os_pipe_path(name, strlen(name), out, cap, &len));
}

static void
test_bad_config(void)
{
    sl_io *io = NULL;
    sl_io_config cfg;
    char path[128];

    CASE("bad configurations are refused");
    ioc_new_path(path, sizeof(path));
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.workers = 0;
    CHECK_EQ_RC(be->open(&cfg, &io), SL_EINVAL);
    cfg.workers = 1;
    cfg.path = "\\\\.\\pipe\\bad-\xFF";
    CHECK_EQ_RC(be->open(&cfg, &io), SL_EINVAL);
    CHECK(io == NULL);
    be->close(NULL);
}

static void
test_security(void)
{
    sl_io *io = NULL;
    sl_io_config cfg;
    char path[128];
    wchar_t wpath[128];
    HANDLE h;
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    wchar_t *sddl = NULL;
    DWORD rc;

    CASE("the pipe's DACL names only the user, SYSTEM and Administrators");
    ioc_new_path(path, sizeof(path));
    CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 128) > 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.workers = 1;
    cfg.instances = 1;
    CHECK_OK(be->open(&cfg, &io));
    h = CreateFileW(wpath, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                    OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE);
    rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                         NULL, NULL, &dacl, NULL, &sd);
    if (rc != ERROR_SUCCESS) {
        printf("  (GetSecurityInfo on a pipe: error %lu; not checked)\n",
               (unsigned long)rc);
    } else {
        CHECK(ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &sddl, NULL));
        printf("  DACL: %ls\n", sddl);
        CHECK(wcsstr(sddl, L"D:P") == sddl);
        CHECK(wcsstr(sddl, L";;;SY)") != NULL);
        CHECK(wcsstr(sddl, L";;;BA)") != NULL);
        CHECK(wcsstr(sddl, L";;;WD)") == NULL); /* not Everyone */
        LocalFree(sddl);
        LocalFree(sd);
    }
    CloseHandle(h);
    /* close() reaps the instance the client had connected to. */
    be->close(io);
}

static const struct {
    const char *name;
    ioc_case body;
} cases[] = {
    {"accept_greet_read", ioc_accept_greet_read},
    {"write_only_client", ioc_write_only_client},
    {"end_at_once", ioc_end_at_once},
    {"peer_reset", ioc_peer_reset},
    {"drain_pending_read", ioc_drain_pending_read},
    {"drain_with_data", ioc_drain_with_data},
    {"stop_accepting", ioc_stop_accepting},
    {"stop_backlog", ioc_stop_backlog},
    {"wake", ioc_wake},
    {"release", ioc_release},
    {"many_clients", ioc_many_clients},
    {"drain_while_writing", ioc_drain_while_writing},
    {"zero_byte_write", ioc_zero_byte_write},
    {"second_server", ioc_second_server},
    {"reopen_after_close", ioc_reopen_after_close},
};

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    CHECK(strcmp(be->name, "iocp") == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* An argument runs only the case of that name. */
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        CASE(cases[i].name);
        cases[i].body(be, 0);
    }
    if (argc == 1) {
        test_bad_config();
        test_security();
    }
    printf("test_iocp: all passed\n");
    return T_EXIT_PASS;
}
