// A 2-8-2 tanh network learns XOR in plain C, with the code of
//
//     symgrad codegen 2 8 2 --activation tanh --target c -o xor_net.c
//
// Build and run from the repository's root (the README gives the same lines):
//
//     cc -std=c99 -O2 -I. -o train_xor examples/train_xor.c xor_net.c -lm && ./train_xor
//
// Nothing is allocated: the parameters, their gradient and the scratch are static arrays sized
// by the macros of xor_net.h.
#include <stdio.h>

#include "xor_net.h"

#define SAMPLES 4
#define STEPS 1000
#define LEARNING_RATE 0.5

// The four points of XOR and their one-hot classes (class 1 where exactly one input is 1).
static const real_t X[SAMPLES * XOR_NET_N_INPUTS] = {0, 0, 0, 1, 1, 0, 1, 1};
static const real_t Y[SAMPLES * XOR_NET_N_OUTPUTS] = {1, 0, 0, 1, 0, 1, 1, 0};

static real_t params[XOR_NET_N_PARAMS], grad[XOR_NET_N_PARAMS];
static real_t work[XOR_NET_WORK_SIZE(SAMPLES)];
static real_t yhat[SAMPLES * XOR_NET_N_OUTPUTS];

// Starting weights from a fixed linear congruential generator, uniform in [-1, 1).
static real_t uniform(void)
{
    static unsigned long state = 2024UL;
    state = (state * 1103515245UL + 12345UL) % 2147483648UL;
    return (real_t)state / (real_t)1073741824.0 - 1;
}

int main(void)
{
    real_t loss = 0;
    for (int k = 0; k < XOR_NET_N_PARAMS; ++k) {
        params[k] = uniform();
    }
    for (int step = 0; step <= STEPS; ++step) {
        if (xor_net_loss_and_gradients(params, X, Y, SAMPLES, &loss, grad, work) != XOR_NET_OK) {
            return 1;
        }
        if (step % 200 == 0) {
            printf("step %4d  loss %.6f\n", step, (double)loss);
        }
        for (int k = 0; k < XOR_NET_N_PARAMS; ++k) {
            params[k] -= (real_t)LEARNING_RATE * grad[k];
        }
    }
    if (xor_net_forward(params, X, SAMPLES, yhat, work) != XOR_NET_OK) {
        return 1;
    }
    printf("predictions:");
    for (int s = 0; s < SAMPLES; ++s) {
        printf(" %d", yhat[s * XOR_NET_N_OUTPUTS + 1] > yhat[s * XOR_NET_N_OUTPUTS] ? 1 : 0);
    }
    printf("\n");
    return 0;
}
