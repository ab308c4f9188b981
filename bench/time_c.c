// Times NAME_loss_and_gradients of a file made by `symgrad codegen --target c -o DIR/net.c`,
// called from C: the cost of the generated code alone, without Python. Built and run by
// bench/bench_codegen.py, which compiles DIR/net.c as the loader does (the first flags of
// symgrad.codegen.c.build.compile_flags) and links it with this file.
//
// Usage: time_c IN OUT SECONDS ROUNDS
//   IN:  batch (int32), then params, X and Y (doubles, row-major);
//   OUT: the loss and the gradient of one call (doubles), for the benchmark to check;
//   prints "median_ns min_ns calls": the median and the least over ROUNDS rounds of the time per
//   call, each round as many calls as take about SECONDS / ROUNDS.
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "net.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Aligned to 64 bytes, as NumPy aligns the arrays the loader passes.
static real_t *take(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, (n ? n : 1) * sizeof(real_t)) != 0) {
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    int32_t batch = 0;
    if (in == NULL || fread(&batch, sizeof batch, 1, in) != 1 || batch < 1) {
        return 2;
    }
    const size_t rows = (size_t)batch;
    real_t *params = take(NET_N_PARAMS), *grad = take(NET_N_PARAMS);
    real_t *X = take(rows * NET_N_INPUTS), *Y = take(rows * NET_N_OUTPUTS);
    // The library's own size: it may be built with other block sizes than this file reads.
    real_t *work = take(net_work_size(batch));
    real_t loss = 0;
    if (fread(params, sizeof *params, NET_N_PARAMS, in) != NET_N_PARAMS ||
        fread(X, sizeof *X, rows * NET_N_INPUTS, in) != rows * NET_N_INPUTS ||
        fread(Y, sizeof *Y, rows * NET_N_OUTPUTS, in) != rows * NET_N_OUTPUTS) {
        return 2;
    }
    fclose(in);
    const double seconds = atof(argv[3]);
    const int rounds = atoi(argv[4]);
    if (seconds <= 0 || rounds < 1 || rounds > 1000) {
        return 2;
    }
    // Warm up, and find how many calls make one round.
    long calls = 1;
    for (;;) {
        const double start = now();
        for (long k = 0; k < calls; ++k) {
            if (net_loss_and_gradients(params, X, Y, batch, &loss, grad, work) != NET_OK) {
                return 3;
            }
        }
        const double spent = now() - start;
        if (spent >= 0.2 * seconds / rounds || calls >= (1L << 30)) {
            calls = (long)(calls * (seconds / rounds) / (spent > 0 ? spent : 1e-9)) + 1;
            break;
        }
        calls *= 2;
    }
    double per_call[1000];
    for (int r = 0; r < rounds; ++r) {
        const double start = now();
        for (long k = 0; k < calls; ++k) {
            net_loss_and_gradients(params, X, Y, batch, &loss, grad, work);
        }
        per_call[r] = (now() - start) / (double)calls;
    }
    qsort(per_call, (size_t)rounds, sizeof per_call[0], by_value);
    FILE *out = fopen(argv[2], "wb");
    if (out == NULL || fwrite(&loss, sizeof loss, 1, out) != 1 ||
        fwrite(grad, sizeof *grad, NET_N_PARAMS, out) != NET_N_PARAMS) {
        return 2;
    }
    fclose(out);
    printf("%.1f %.1f %ld\n", 1e9 * per_call[rounds / 2], 1e9 * per_call[0], calls * rounds);
    free(params);
    free(grad);
    free(X);
    free(Y);
    free(work);
    return 0;
}
