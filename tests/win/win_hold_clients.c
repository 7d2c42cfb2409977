/*
 * Many plain Win32 clients that write and hold: for the stop test. Opens
 * COUNT connections to \\.\pipe\NAME one after another (waiting for a
 * free instance), writes "held I\n" on each without reading its greeting
 * (so a connection the collector has not taken yet still holds a line),
 * prints "held=COUNT", then keeps every connection open until the file
 * STOP exists (at most 60 s) and closes them all. Plain Win32, no sluice
 * code. Exit 0 on success, 1 on any failure, 2 on a usage error. With
 * "silent" it writes nothing at all (for the --idle-timeout test).
 *
 * Usage: win_hold_clients NAME COUNT STOP [silent]
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static HANDLE
open_pipe(const wchar_t *path)
{
    DWORD start = GetTickCount();

    for (;;) {
        HANDLE h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING, 0, NULL);
        DWORD err;

        if (h != INVALID_HANDLE_VALUE)
            return h;
        err = GetLastError();
        if (GetTickCount() - start > 20000 ||
            (err != ERROR_FILE_NOT_FOUND && err != ERROR_PIPE_BUSY)) {
            fprintf(stderr, "win_hold_clients: CreateFileW: error %lu\n",
                    (unsigned long)err);
            return INVALID_HANDLE_VALUE;
        }
        if (err == ERROR_PIPE_BUSY)
            WaitNamedPipeW(path, 1000);
        else
            Sleep(5);
    }
}

int
main(int argc, char **argv)
{
    wchar_t path[300], stop[600];
    HANDLE *held;
    long count;
    int silent = argc == 5 && strcmp(argv[4], "silent") == 0;

    if ((argc != 4 && !silent) || (count = strtol(argv[2], NULL, 10)) <= 0 ||
        count > 100000) {
        fprintf(stderr, "usage: win_hold_clients NAME COUNT STOP [silent]\n");
        return 2;
    }
    if (_snwprintf(path, 300, L"\\\\.\\pipe\\%hs", argv[1]) < 0 ||
        MultiByteToWideChar(CP_UTF8, 0, argv[3], -1, stop, 600) <= 0)
        return 2;
    path[299] = L'\0';
    held = calloc((size_t)count, sizeof(*held));
    if (held == NULL)
        return 1;
    for (long i = 0; i < count; i++) {
        char line[32];
        DWORD done;
        int n = snprintf(line, sizeof(line), "held %ld\n", i);

        held[i] = open_pipe(path);
        if (held[i] == INVALID_HANDLE_VALUE)
            return 1;
        if (silent)
            continue;
        if (!WriteFile(held[i], line, (DWORD)n, &done, NULL) ||
            done != (DWORD)n) {
            fprintf(stderr, "win_hold_clients: WriteFile: error %lu\n",
                    (unsigned long)GetLastError());
            return 1;
        }
    }
    printf("held=%ld\n", count);
    fflush(stdout);
    for (int t = 0; t < 1200; t++) {
        if (GetFileAttributesW(stop) != INVALID_FILE_ATTRIBUTES)
            break;
        Sleep(50);
    }
    for (long i = 0; i < count; i++)
        CloseHandle(held[i]);
    free(held);
    return 0;
}
