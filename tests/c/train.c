// Trains a network made by `symgrad codegen --target c -o net.c` with plain C: no Python, no
// library but libm, nothing but the generated header. Built and run by tests/test_c_target.py.
//
// The task: points of the plane, labelled by the side of a circle they fall on; batch gradient
// descent for 300 steps. Prints the loss before and after training ("first last").
#include <math.h>
#include <stdio.h>

#include "net.h"

#define SAMPLES 64
#define STEPS 300

// A small linear congruential generator: the same numbers on every machine.
static unsigned long state = 12345UL;

static real_t uniform(void)
{
    state = (state * 1103515245UL + 12345UL) % 2147483648UL;
    return (real_t)state / (real_t)2147483648.0 * 2 - 1;
}

int main(void)
{
    static real_t params[NET_N_PARAMS], grad[NET_N_PARAMS], work[NET_WORK_SIZE(SAMPLES)];
    static real_t X[SAMPLES * NET_N_INPUTS], Y[SAMPLES * NET_N_OUTPUTS];
    real_t loss = 0, first = 0;
    for (int k = 0; k < NET_N_PARAMS; ++k) {
        params[k] = uniform();
    }
    for (int s = 0; s < SAMPLES; ++s) {
        const real_t x0 = uniform(), x1 = uniform();
        const int inside = x0 * x0 + x1 * x1 < 0.5;
        X[s * NET_N_INPUTS] = x0;
        X[s * NET_N_INPUTS + 1] = x1;
        Y[s * NET_N_OUTPUTS] = (real_t)inside;
        Y[s * NET_N_OUTPUTS + 1] = (real_t)!inside;
    }
    for (int step = 0; step <= STEPS; ++step) {
        if (net_loss_and_gradients(params, X, Y, SAMPLES, &loss, grad, work) != NET_OK) {
            return 1;
        }
        if (step == 0) {
            first = loss;
        }
        for (int k = 0; k < NET_N_PARAMS; ++k) {
            params[k] -= (real_t)0.5 * grad[k];
        }
    }
    printf("%.9g %.9g\n", (double)first, (double)loss);
    return isfinite(loss) ? 0 : 1;
}
