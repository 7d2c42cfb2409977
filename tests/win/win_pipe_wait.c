/*
 * Test helper: waits until pipe \\.\pipe\NAME exists (or, with --gone,
 * until it no longer does), without connecting to it, so a test script
 * knows a collector under Wine is listening before it starts clients that
 * do not retry. WaitNamedPipeW answers without taking an instance: TRUE
 * or ERROR_SEM_TIMEOUT (all instances busy) means the pipe exists,
 * ERROR_FILE_NOT_FOUND that it does not.
 *
 * Usage: win_pipe_wait NAME TIMEOUT_MS [--gone]
 * Exit 0 when the condition holds, 1 at the timeout.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    wchar_t path[300];
    DWORD start = GetTickCount(), timeout;
    int want_gone;

    if (argc < 3 || argc > 4 ||
        (argc == 4 && strcmp(argv[3], "--gone") != 0)) {
        fprintf(stderr, "usage: win_pipe_wait NAME TIMEOUT_MS [--gone]\n");
        return 2;
    }
    if (_snwprintf(path, 300, L"\\\\.\\pipe\\%hs", argv[1]) < 0)
        return 2;
    path[299] = L'\0';
    timeout = (DWORD)strtoul(argv[2], NULL, 10);
    want_gone = argc == 4;
    for (;;) {
        int exists = WaitNamedPipeW(path, 1) ||
                     GetLastError() != ERROR_FILE_NOT_FOUND;

        if (exists != want_gone)
            return 0;
        if (GetTickCount() - start > timeout) {
            fprintf(stderr, "win_pipe_wait: pipe %s still %s after %lu ms\n",
                    argv[1], want_gone ? "there" : "missing",
                    (unsigned long)timeout);
            return 1;
        }
        Sleep(20);
    }
}
