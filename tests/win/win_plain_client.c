/*
 * A plain Win32 named-pipe client that knows nothing of sluice: the
 * pattern sluice grew from (a profiler DLL talking to a GUI). It opens
 * \\.\pipe\NAME with CreateFileW(GENERIC_READ | GENERIC_WRITE,
 * OPEN_EXISTING), reads the server's greeting byte by byte up to its NUL
 * into a 100-byte buffer, writes "hello from c++\r\n" with WriteFile and
 * exits. The collector must record exactly one text event,
 * "hello from c++".
 *
 * Usage: win_plain_client NAME [MESSAGE | -]
 * With "-" it sends its standard input byte for byte instead (binary
 * mode), which lets the hostile-input tests send what no well-behaved
 * producer would, such as a line longer than the collector's max frame.
 * Prints the greeting; exit 0 on success, 1 on any failure. For the test
 * harness it waits up to 10 s for the pipe to appear (or for a free
 * instance), which a real client of the pattern would not need.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
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
        if (GetTickCount() - start > 10000 ||
            (err != ERROR_FILE_NOT_FOUND && err != ERROR_PIPE_BUSY)) {
            fprintf(stderr, "win_plain_client: CreateFileW: error %lu\n",
                    (unsigned long)err);
            return INVALID_HANDLE_VALUE;
        }
        if (err == ERROR_PIPE_BUSY)
            WaitNamedPipeW(path, 1000);
        else
            Sleep(20);
    }
}

int
main(int argc, char **argv)
{
    const char *msg = argc > 2 ? argv[2] : "hello from c++\r\n";
    wchar_t path[300];
    char greeting[100];
    size_t n = 0;
    DWORD got, done;
    HANDLE h;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: win_plain_client NAME [MESSAGE]\n");
        return 2;
    }
    if (_snwprintf(path, 300, L"\\\\.\\pipe\\%hs", argv[1]) < 0)
        return 1;
    path[299] = L'\0';
    h = open_pipe(path);
    if (h == INVALID_HANDLE_VALUE)
        return 1;
    for (;;) {
        if (n == sizeof(greeting)) {
            fprintf(stderr, "win_plain_client: greeting has no NUL\n");
            return 1;
        }
        if (!ReadFile(h, &greeting[n], 1, &got, NULL) || got != 1) {
            fprintf(stderr, "win_plain_client: ReadFile: error %lu\n",
                    (unsigned long)GetLastError());
            return 1;
        }
        if (greeting[n++] == '\0')
            break;
    }
    printf("greeting: %s\n", greeting);
    if (strcmp(msg, "-") == 0) {
        char buf[65536];
        HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
        DWORD r;

        /* ReadFile, not fread: what arrives is sent at once (a test can
         * send half a line and hold the connection open), not when a
         * buffer fills. */
        while (ReadFile(in, buf, sizeof(buf), &r, NULL) && r > 0) {
            if (!WriteFile(h, buf, (DWORD)r, &done, NULL) || done != r) {
                fprintf(stderr, "win_plain_client: WriteFile: error %lu\n",
                        (unsigned long)GetLastError());
                return 1;
            }
        }
        CloseHandle(h);
        return 0;
    }
    if (!WriteFile(h, msg, (DWORD)strlen(msg), &done, NULL) ||
        done != strlen(msg)) {
        fprintf(stderr, "win_plain_client: WriteFile: error %lu\n",
                (unsigned long)GetLastError());
        return 1;
    }
    CloseHandle(h);
    return 0;
}
