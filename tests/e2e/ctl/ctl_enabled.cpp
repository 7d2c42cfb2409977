// issue 12: sluice_producer_enabled(), config_get() and the filtered count
// from C++ (-std=c++11 -pedantic: the C header must not expose _Atomic).
//   ctl_enabled PIPE
// Prints "enabled4=E4 enabled5=E5 mode=V filtered=F events=N" after
// emitting one event of type 4 and one of type 5.
#include <cstdio>
#include <cstring>

#include "sluice/producer.h"

int
main(int argc, char **argv)
{
    sluice_producer_opts o;
    sluice_producer *p = nullptr;
    const char *v = nullptr;
    size_t vl = 0;
    uint64_t events = 0;

    if (argc != 2) {
        std::fprintf(stderr, "usage: ctl_enabled PIPE\n");
        return 2;
    }
    sluice_producer_opts_init(&o);
    int rc = sluice_producer_open(argv[1], std::strlen(argv[1]), &o, &p);
    if (rc != 0) {
        std::fprintf(stderr, "ctl_enabled: open: %s\n", sluice_strerror(rc));
        return 1;
    }
    int e4 = sluice_producer_enabled(p, 4), e5 = sluice_producer_enabled(p, 5);
    if (sluice_producer_config_get(p, "mode", 4, &v, &vl) != 0) {
        v = "-";
        vl = 1;
    }
    if (sluice_producer_emit(p, 4, "x4", 2) != 0 ||
        sluice_producer_emit(p, 5, "x5", 2) != 0) {
        std::fprintf(stderr, "ctl_enabled: emit failed\n");
        return 1;
    }
    uint64_t filtered = sluice_producer_filtered(p);
    sluice_producer_counts(p, &events, nullptr);
    std::printf("enabled4=%d enabled5=%d mode=%.*s filtered=%llu events=%llu\n",
                e4, e5, (int)vl, v, (unsigned long long)filtered,
                (unsigned long long)events);
    rc = sluice_producer_close(p);
    if (rc != 0) {
        std::fprintf(stderr, "ctl_enabled: close: %s\n", sluice_strerror(rc));
        return 1;
    }
    return 0;
}
