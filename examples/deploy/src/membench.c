/* Read bandwidth of an array of SIZE MiB, summed PASSES times. Prints "bandwidth: X MB/s". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SIZE_MIB [PASSES]\n", argv[0]);
        return 2;
    }
    size_t mib = strtoul(argv[1], NULL, 10);
    int passes = argc > 2 ? atoi(argv[2]) : 8;
    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *a = malloc(n * sizeof(uint64_t));
    if (!a) {
        perror("malloc");
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = i;
    volatile uint64_t sink = 0;
    double start = now();
    for (int p = 0; p < passes; p++) {
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) s += a[i];
        sink += s;
    }
    double secs = now() - start;
    printf("bandwidth: %.1f MB/s\n", (double)n * sizeof(uint64_t) * passes / secs / 1e6);
    free(a);
    return sink == 42 ? 3 : 0;
}
